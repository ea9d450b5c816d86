import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the product must work without the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from fusion import FusedModel

BENCHDATA = Path(__file__).resolve().parents[1].parent / "shared" / "benchdata"


def pytest_configure(config):
    config.addinivalue_line("markers", "pocket: runs the real pocket weights (slower)")


@pytest.fixture(scope="session")
def benchdata() -> Path:
    if not BENCHDATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {BENCHDATA}")
    return BENCHDATA


@pytest.fixture(autouse=True, scope="session")
def float32_by_default():
    """In-process "auto" precision resolves to float32 in tests, whatever this CPU computes natively: most tests
    prove exact equivalences. The bfloat16 tests ask for it explicitly; tests/test_precision.py mocks the checks."""
    import fusion.precision
    with pytest.MonkeyPatch.context() as patch:  # session-wide: module fixtures are built before function ones
        patch.setattr(fusion.precision, "cpu_has_native_bf16", lambda: False)
        yield


def tiny(strategy="transformer-softmax", dtype="float32", **overrides) -> FusedModel:
    torch.manual_seed(0)
    model = FusedModel.from_preset("tiny", strategy=strategy, device="cpu", dtype=dtype, **overrides)
    # give the untrained bridge non-trivial weights so that comparisons can fail
    with torch.no_grad():
        for p in model.bridge.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.fixture(scope="session")
def pocket_model():
    return FusedModel.from_preset("pocket", strategy="transformer-softmax", device="cpu", dtype="float32")


# ---------------------------------------------------------------- a results directory for the leaderboard

def write_run(root: Path, name: str, task_name: str, accuracy: dict, kind: str = "fused", strategy=None,
              path=None, n: int = 40, seed: int = 0, lm_eval: bool = False):
    """root/<name>/<task>.json and .predictions.jsonl of a synthetic run: per language, each example is right
    with probability accuracy[lang] (the same items, by doc_hash, for every run of a task). `lm_eval`: the files
    in lm-evaluation-harness's schema (eval.results.to_lm_eval, --log_samples field names), else in the format
    written before (layerbridge-results/1; gold and correct)."""
    import json

    import numpy as np

    from eval.metrics import classification_metrics
    from eval.results import SCHEMA, to_lm_eval
    from fusion.files import write_json_atomic
    from tasks import get_task
    from eval.trace import doc_hash, prompt_hash, task_definition

    task = get_task(task_name)
    k = len(task.choices)
    records, per_lang = [], {}
    for lang, p in accuracy.items():
        items = np.random.default_rng([len(lang), n]).integers(0, k, n)                  # gold: same for all runs
        right = np.random.default_rng([seed, len(name), int(p * 1000)]).random(n) < p
        for i, (gold, ok) in enumerate(zip(items.tolist(), right.tolist())):
            row = {f: f"{lang} {f} {i}" for f in task.text_fields} | {"label": gold}
            pred = gold if ok else (gold + 1) % k
            records.append(dict(id=f"{task_name}-{lang}-{i}", lang=lang, doc_hash=doc_hash(task, row, lang),
                                prompt_hash=prompt_hash(task.prompt(row)), gold=gold, predicted=pred, correct=ok,
                                loglik=[0.0 if c == pred else -2.0 for c in range(k)], scoring="loglik", run=name))
        per_lang[lang] = ([r["gold"] for r in records if r["lang"] == lang],
                          [r["predicted"] for r in records if r["lang"] == lang])
    results = {"schema": SCHEMA, "task": task.name, "task_config": task_definition(task),
               "model": dict(name=name, kind=kind, path=str(path) if path else None, strategy=strategy,
                             encoder=None if kind == "plain" else "e5", llm="gemma", checkpoint_sha256=None),
               "config": {"scoring": "loglik", "precision": "float32", "limit": n, "bootstrap": 200, "seed": 0},
               "results": classification_metrics(per_lang, range(k), 200, 0, task.groups),
               "sample_note": f"a sample of {n} examples per language", "hardware": "CPU (test)",
               "date": "2026-11-01T00:00:00+00:00"}
    out = root / name
    write_json_atomic(out / f"{task.name}.json", to_lm_eval(results) if lm_eval else results)
    if lm_eval:
        records = [{"target" if k == "gold" else "acc" if k == "correct" else k: float(v) if k == "correct" else v
                    for k, v in r.items()} for r in records]
    (out / f"{task.name}.predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return results


def seeded_checkpoint(root: Path, name: str, task: str, strategy: str, seed: int) -> Path:
    """root/<name>/ with just a train_results.json: enough for results files to name the run's training seed."""
    import json
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "train_results.json").write_text(json.dumps({"task": task, "strategy": strategy, "seed": seed}))
    return path


def write_results_fixture(root: Path) -> Path:
    """Two benchmarks (xnli; sib200 with its language groups and two seeds per strategy), a plain LLM, a probe,
    checkpoints with train_results.json, and one file in the oldest format (no config, stderr or task_config).
    Some runs are in lm-evaluation-harness's schema, the others in the format written before: readers take both."""
    import json

    from eval.results import SCHEMA
    from fusion.files import write_json_atomic

    ckpts = root / "checkpoints"
    for ckpt, seed in (("tiny-nli-last", 0), ("tiny-nli-transformer-softmax", 0)):
        (ckpts / ckpt).mkdir(parents=True, exist_ok=True)
        (ckpts / ckpt / "train_results.json").write_text(json.dumps(
            {"task": "xnli", "strategy": ckpt.split("nli-")[1], "steps": 150, "train_examples": 8874,
             "global_batch": 8, "seed": seed, "dev_accuracy": 0.5}))
    res = root / "results"
    xnli = {"en": 0.8, "hi": 0.5}
    write_run(res, "tiny-last", "xnli", xnli, strategy="last", path=ckpts / "tiny-nli-last")
    write_run(res, "tiny-transformer-softmax", "xnli", {"en": 0.85, "hi": 0.65}, strategy="transformer-softmax",
              path=ckpts / "tiny-nli-transformer-softmax", lm_eval=True)
    write_run(res, "plain-tiny", "xnli", {"en": 0.4, "hi": 0.34}, kind="plain")
    sib = {"eng_Latn": 0.7, "sin_Sinh": 0.4, "tam_Taml": 0.45}
    for s in (0, 1):
        suffix = f"-s{s}" if s else ""
        for strategy, gain in (("last", 0.0), ("transformer-softmax", 0.1)):
            ckpt = seeded_checkpoint(ckpts, f"tiny-topic-{strategy}{suffix}", "sib200", strategy, s)
            write_run(res, f"tiny-topic-{strategy}{suffix}", "sib200", {lang: a + gain for lang, a in sib.items()},
                      strategy=strategy, path=ckpt, n=30, seed=s, lm_eval=(s == 1) == (strategy == "last"))
    write_run(res, "probe-tiny", "sib200", sib, kind="probe", n=30, lm_eval=True)
    write_json_atomic(res / "old-model" / "xnli.json", {
        "schema": SCHEMA, "model": {"name": "old-model", "kind": "fused", "strategy": "global-softmax"},
        "task": "xnli", "date": "2025-01-01T00:00:00+00:00",
        "results": {"en": {"acc,none": 0.6, "acc_ci95,none": [0.5, 0.7], "n": 40},
                    "hi": {"acc,none": 0.4, "acc_ci95,none": [0.3, 0.5], "n": 40},
                    "average": {"acc,none": 0.5, "n": 80}}})
    return res


@pytest.fixture(scope="session")
def results_fixture(tmp_path_factory) -> Path:
    return write_results_fixture(tmp_path_factory.mktemp("lb"))
