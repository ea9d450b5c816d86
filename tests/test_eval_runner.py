"""The evaluation command and API on a tiny checkpoint and fixture files: files written, resume after a kill,
two processes, generation scoring, and clear errors for bad input."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eval.__main__ import main
from eval.results import read_results
from eval.runner import evaluate
from tasks import NLI_LABELS
from tasks.definitions import NLI_TEMPLATE
from tests.conftest import tiny
from tests.support import launch_two_processes

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = ("date", "wall_seconds", "resumed_examples", "versions", "hardware")


def write_xnli(data_dir: Path, langs=("en", "hi"), n=14):
    """A small XNLI-shaped test file: prompts of varied length, every label present."""
    rows = []
    for lang in langs:
        for i in range(n):
            rows.append({"id": f"xnli-{lang}-{i}", "lang": lang, "label": i % 3,
                         "premise": f"{lang} premise {i}: " + "many words here " * (i % 5 + 1),
                         "hypothesis": f"{lang} hypothesis number {i}" + " really" * (i % 4)})
    (data_dir / "xnli").mkdir(parents=True, exist_ok=True)
    (data_dir / "xnli" / "test.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                  encoding="utf-8")
    return data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_xnli(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny-nli-global-softmax"
    tiny("global-softmax").save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def reference(checkpoint, data_dir, tmp_path_factory):
    """An uninterrupted one-process CLI run: (output dir, results, predictions)."""
    out = tmp_path_factory.mktemp("ref")
    main(["run", "--model", str(checkpoint), "--task", "xnli", "--languages", "en", "hi", "--data-dir",
          str(data_dir), "--output", str(out), "--batch-size", "4", "--bootstrap", "200", "--no-progress"])
    d = out / "tiny-nli-global-softmax"
    return out, read_results(d / "xnli.json"), predictions(d / "xnli.predictions.jsonl")


def loglik(p: dict) -> list[float]:
    """A sample's per-choice log-likelihoods (lm-eval's filtered_resps: [log-likelihood, is_greedy] per choice)."""
    return [score for score, _ in p["filtered_resps"]]


def predictions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stable(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in VOLATILE}


def run_args(checkpoint, data_dir, out, *extra):
    return ["run", "--model", str(checkpoint), "--task", "xnli", "--languages", "en", "hi", "--data-dir",
            str(data_dir), "--output", str(out), "--batch-size", "4", "--bootstrap", "200", "--no-progress",
            "--precision", "float32", *extra]  # explicit: subprocesses do not see the tests' float32 default


def test_lm_eval_make_table_renders_a_results_file(reference):
    """lm-evaluation-harness's own table printer reads what `eval run` wrote (its results and groups)."""
    lm_eval_utils = pytest.importorskip("lm_eval.utils", reason="lm_eval is not installed (requirements-bench.txt)")
    out, results, _ = reference
    raw = json.loads((out / "tiny-nli-global-softmax" / "xnli.json").read_text())
    table = lm_eval_utils.make_table(raw)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    acc = {r[0].lstrip("- "): r for r in rows if r[4] == "acc"}
    assert set(acc) == {"xnli", "xnli_en", "xnli_hi"}
    for lang, name in (("en", "xnli_en"), ("hi", "xnli_hi"), ("average", "xnli")):
        m = results["results"][lang]
        assert acc[name][6] == f"{m['acc,none']:.4f}" and acc[name][8] == f"{m['acc_stderr,none']:.4f}"
        assert float(acc[name][1]) == float(results["task_config"]["version"]) and acc[name][3] == "0" and acc[name][5] == "↑"
    assert "xnli" in lm_eval_utils.make_table(raw, "groups")


def test_cli_run_writes_results_and_predictions(reference, checkpoint, capsys):
    out, results, preds = reference
    raw = json.loads((out / "tiny-nli-global-softmax" / "xnli.json").read_text())   # lm-evaluation-harness's schema
    assert set(raw["results"]) == {"xnli", "xnli_en", "xnli_hi"} and set(raw["groups"]) == {"xnli"}
    assert raw["group_subtasks"] == {"xnli": ["xnli_en", "xnli_hi"]} and raw["n-shot"]["xnli_hi"] == 0
    assert raw["n-samples"]["xnli_en"] == {"original": 14, "effective": 14, "truncated": results["n_samples"]["en"]["truncated"]}
    assert raw["versions"]["xnli_en"] == results["task_config"]["version"] and raw["higher_is_better"]["xnli"]["acc"]
    assert raw["config"]["model"] == "tiny-nli-global-softmax" and raw["config"]["model_args"] == results["model"]
    assert raw["results"]["xnli_hi"]["acc,none"] == results["results"]["hi"]["acc,none"]
    assert raw["intervals"]["xnli_hi"]["acc_ci95,none"] == results["results"]["hi"]["acc_ci95,none"]
    assert isinstance(raw["date"], float) and raw["date_utc"] == results["date"]
    assert results["model"]["name"] == "tiny-nli-global-softmax" and results["model"]["kind"] == "fused"
    import hashlib
    assert results["model"]["checkpoint_sha256"] == hashlib.sha256(
        (checkpoint / "bridge.safetensors").read_bytes()).hexdigest()
    assert set(results["results"]) == {"en", "hi", "average"}
    for lang in ("en", "hi"):
        r = results["results"][lang]
        assert r["n"] == 14 and results["n_samples"][lang]["effective"] == 14
        assert results["n_samples"][lang]["available"] == 14
        assert results["n_samples"][lang]["truncated"] == sum(p["truncated"] for p in preds if p["lang"] == lang)
        mine = [p for p in preds if p["lang"] == lang]
        assert r["acc,none"] == pytest.approx(sum(p["predicted"] == p["target"] for p in mine) / 14)
        lo, hi = r["acc_ci95,none"]
        assert lo <= r["acc,none"] <= hi
    assert results["results"]["average"]["acc,none"] == pytest.approx(
        (results["results"]["en"]["acc,none"] + results["results"]["hi"]["acc,none"]) / 2)
    assert {"torch", "transformers", "python", "layerbridge"} <= set(results["versions"])
    assert results["date"].endswith("+00:00") and "14 examples per language" in results["sample_note"]
    # predictions: every example once, in data order, with per-choice scores that decide the prediction
    assert [p["id"] for p in preds] == [f"xnli-{l}-{i}" for l in ("en", "hi") for i in range(14)]
    for p in preds:
        assert len(loglik(p)) == 3 and sum(p["probs"]) == pytest.approx(1, abs=1e-5)
        assert p["predicted"] == max(range(3), key=lambda c: loglik(p)[c])
        assert p["target_label"] == NLI_LABELS[p["target"]] and len(p["layer_weights"]) == 4
    assert len({tuple(loglik(p)) for p in preds}) > 20   # real per-example scores, not a constant
    assert not list((out / "tiny-nli-global-softmax").glob("*.part-*"))


def test_limit_and_api_without_files(checkpoint, data_dir, reference):
    from fusion import FusedModel
    model = FusedModel.from_pretrained(checkpoint, device="cpu")
    r = evaluate(model, "nli", languages=["hi"], data_dir=data_dir, limit=5, bootstrap=0, progress=False,
                 batch_size=3)
    assert r["task"] == "xnli" and r["results"]["hi"]["n"] == 5 and r["results"]["hi"]["acc_ci95,none"] is None
    assert r["n_samples"]["hi"]["effective"] == 5 and r["n_samples"]["hi"]["available"] == 14
    assert "class-balanced sample (seed 0) of 5 of 14" in r["sample_note"]
    from tasks.data import load_test, stratified_sample
    from tasks import get_task
    hi_rows = load_test(get_task("xnli"), "hi", data_dir=data_dir)
    sample = stratified_sample(hi_rows, 5)
    assert sorted(r_["label"] for r_ in sample) in ([0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [0, 0, 1, 2, 2])
    ids = {r_["id"] for r_ in sample}
    ref = [p for p in reference[2] if p["lang"] == "hi" and p["id"] in ids]
    assert len(ref) == 5
    assert r["results"]["hi"]["acc,none"] == pytest.approx(sum(p["acc"] for p in ref) / 5)


def test_runs_on_the_same_items_carry_the_same_doc_hashes(reference, checkpoint, data_dir, tmp_path):
    """A second run (another batch size, a sample of one language) writes the same doc_hash and prompt_hash for
    every item both scored, so the two can be paired; the header names the task's version and definition."""
    _, results, preds = reference
    r = evaluate(str(checkpoint), "xnli", languages=["hi"], data_dir=data_dir, limit=6, output_dir=tmp_path,
                 batch_size=5, bootstrap=0, progress=False)
    again = {(p["lang"], p["id"]): p for p in predictions(tmp_path / "tiny-nli-global-softmax" /
                                                          "xnli.predictions.jsonl")}
    first = {(p["lang"], p["id"]): p for p in preds}
    assert len(again) == 6
    for k, p in again.items():
        assert p["doc_hash"] == first[k]["doc_hash"] and p["prompt_hash"] == first[k]["prompt_hash"]
        assert {"id", "doc_id", "target", "predicted", "resps", "filtered_resps", "acc"} <= set(p)
    assert len({p["doc_hash"] for p in preds}) == len(preds)         # one hash per item
    assert r["task_config"] == results["task_config"] and r["task_config"]["version"] == "1.0"
    assert results["task_config"]["template"] == NLI_TEMPLATE and len(results["task_config"]["hash"]) == 64
    assert list(results["task_config"]["data"].values())[0] == hashlib.sha256(
        (data_dir / "xnli" / "test.jsonl").read_bytes()).hexdigest()
    assert results["results"]["en"]["acc_stderr,none"] > 0 and results["results"]["average"]["acc_stderr,none"] > 0
    from eval.pairing import paired_difference
    d = paired_difference(list(again.values()), preds)
    assert d["n"] == 6 and d["diff"] == 0                            # the same model on the same items


def test_resume_after_kill_equals_uninterrupted_run(reference, checkpoint, data_dir, tmp_path):
    _, results, preds = reference
    out = tmp_path / "out"
    d = out / "tiny-nli-global-softmax"
    d.mkdir(parents=True)
    # a run killed mid-write: half of the lines, then a cut line
    lines = (reference[0] / "tiny-nli-global-softmax" / "xnli.predictions.jsonl").read_text().splitlines()
    half = len(lines) // 2
    kept = [json.dumps({**json.loads(line), "kept": True}) for line in lines[:half]]  # marks what is not redone
    (d / "xnli.predictions.jsonl").write_text("\n".join(kept) + "\n" + lines[half][:37], encoding="utf-8")
    main(run_args(checkpoint, data_dir, out))
    resumed = read_results(d / "xnli.json")
    assert resumed["resumed_examples"] == half
    assert stable(resumed) == stable(results)
    again = predictions(d / "xnli.predictions.jsonl")
    assert [p["id"] for p in again] == [p["id"] for p in preds]   # no duplicates, none missing
    assert [p.pop("kept", False) for p in again] == [True] * half + [False] * (len(preds) - half)
    assert again == preds


def test_resume_from_part_file_of_a_killed_run(reference, checkpoint, data_dir, tmp_path):
    _, results, preds = reference
    d = tmp_path / "tiny-nli-global-softmax"
    d.mkdir()
    lines = [json.dumps(p) for p in preds[5:12]]
    (d / "xnli.predictions.part-0.jsonl").write_text("\n".join(lines) + "\n" + lines[0][:20], encoding="utf-8")
    main(run_args(checkpoint, data_dir, tmp_path))
    resumed = read_results(d / "xnli.json")
    assert resumed["resumed_examples"] == 7 and stable(resumed) == stable(results)
    assert predictions(d / "xnli.predictions.jsonl") == preds
    assert not list(d.glob("*.part-*"))


def test_predictions_of_another_model_are_not_reused(reference, data_dir, tmp_path):
    """Same output name, different weights: nothing is resumed."""
    other = tmp_path / "ckpt" / "tiny-nli-global-softmax"
    tiny("last").save_pretrained(other)
    shutil.copytree(reference[0] / "tiny-nli-global-softmax", tmp_path / "out" / "tiny-nli-global-softmax")
    main(run_args(other, data_dir, tmp_path / "out"))
    r = read_results(tmp_path / "out" / "tiny-nli-global-softmax" / "xnli.json")
    assert r["resumed_examples"] == 0 and r["model"]["strategy"] == "last"


@pytest.mark.timeout(300)
def test_two_processes_equal_one(reference, checkpoint, data_dir, tmp_path):
    proc = launch_two_processes(["eval", *run_args(checkpoint, data_dir, tmp_path)], cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    d = tmp_path / "tiny-nli-global-softmax"
    two = read_results(d / "xnli.json")
    assert two["config"]["processes"] == 2, "accelerate started one process only"
    one = reference[1]
    assert two["results"] == one["results"]
    preds = predictions(d / "xnli.predictions.jsonl")
    assert [p["id"] for p in preds] == [p["id"] for p in reference[2]]
    for a, b in zip(preds, reference[2]):
        assert a["predicted"] == b["predicted"]
        assert loglik(a) == pytest.approx(loglik(b), abs=1e-4)
    assert proc.stdout.count("wrote ") == 1   # only the main process reports


def test_generate_scoring(checkpoint, data_dir, tmp_path):
    r = evaluate(str(checkpoint), "xnli", languages=["en"], data_dir=data_dir, limit=6, output_dir=tmp_path,
                 scoring="generate", bootstrap=50, progress=False)
    assert r["config"]["scoring"] == "generate"
    preds = predictions(tmp_path / "tiny-nli-global-softmax" / "xnli.predictions.jsonl")
    assert len(preds) == 6
    for p in preds:
        [[generated]] = p["resps"]                                  # lm-eval's resps: [[text]]
        first = generated.strip().split("\n")[0].strip()
        assert p["filtered_resps"] == [first] and p["acc"] == float(p["predicted"] == p["target"])
        assert p["predicted"] == (NLI_LABELS.index(first) if first in NLI_LABELS else -1)
    assert r["results"]["en"]["acc,none"] == pytest.approx(sum(p["predicted"] == p["target"] for p in preds) / 6)


@pytest.mark.parametrize("content,message", [
    ('{"id": "a", "lang": "en", "premise": "p", "label": 0}\n', "missing field(s) hypothesis"),
    ('{"id": "a", "lang": "en", "premise": "p", "hypothesis": "h", "label": 7}\n', "not one of the task's labels"),
    ('{"id": "a", "lang": "en", "premise": "p", "hypothesis": "h", "label": "maybe"}\n', "not one of the task's"),
    ("", "has no examples"),
    ('{"id": "a", "lang": "en", "premise": "p", "hypothesis": "h", "label": 0}\nnot json\n', "not valid JSON"),
    (b'{"id": "a", "lang": "en", "premise": "caf\xe9", "hypothesis": "h", "label": 0}\n', "not UTF-8"),
    ('{"id": "a", "lang": "en", "premise": "p", "hypothesis": "h", "label": 0}\n' * 2, "occurs more than once"),
])
def test_bad_data_files_give_a_clear_error(tmp_path, capsys, content, message):
    f = tmp_path / "xnli" / "test.jsonl"
    f.parent.mkdir()
    f.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(SystemExit) as e:
        main(["run", "--model", "tiny", "--task", "xnli", "--languages", "en", "--data-dir", str(tmp_path),
              "--output", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,message", [
    (["--task", "squad"], "unknown task 'squad'"),
    (["--languages", "xx"], "has no language 'xx'"),
    (["--model", "no-such-model"], "neither a checkpoint directory, a preset"),
    (["--data-dir", "/nonexistent/benchdata"], "data directory /nonexistent/benchdata does not exist"),
    (["--limit", "0"], "limit must be an integer >= 1"),
    (["--model", "plain:tiny", "--task", "ntrex_alignment", "--languages", "si"], "needs a fused model"),
])
def test_user_errors_exit_2_without_traceback(data_dir, tmp_path, capsys, argv, message):
    base = {"--model": "tiny", "--task": "xnli", "--languages": "en", "--data-dir": str(data_dir)}
    for flag, value in zip(argv[::2], argv[1::2]):
        base[flag] = value
    with pytest.raises(SystemExit) as e:
        main(["run", *[x for kv in base.items() for x in kv], "--output", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def test_without_data_dir_the_hub_is_needed(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:   # HF_HUB_OFFLINE=1 (conftest): fails at once, with what to do
        main(["run", "--model", "tiny", "--task", "xnli", "--languages", "en", "--output", str(tmp_path)])
    assert e.value.code == 2 and "pass --data-dir" in capsys.readouterr().err


def test_cli_error_in_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "test.jsonl").write_text('{"id": "a", "premise": "p", "label": 0}\n')
    proc = subprocess.run([sys.executable, "-m", "eval", "run", "--model", "tiny", "--task", "xnli", "--languages",
                           "en", "--data-dir", str(tmp_path), "--output", str(tmp_path / "o")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "error: " in proc.stderr and "missing field" in proc.stderr and "Traceback" not in proc.stderr


def test_centering_run_is_named_and_described_apart_and_changes_only_other_languages(reference, checkpoint, data_dir,
                                                                                    tmp_path):
    """--centering: English predictions stay those of the plain run (English is the reference), Hindi ones read
    moved states; the run is named +centered and says it uses unlabeled target-language text."""
    from fusion.centering import compute_stats
    model = tiny("global-softmax")
    texts = {"eng_Latn": ["some English text", "another English sentence"], "hin_Deva": ["hi premise", "hi words"]}
    compute_stats(model.encoder, model.encoder_tokenizer, texts, max_length=64).save(tmp_path / "stats")
    main(run_args(checkpoint, data_dir, tmp_path / "out", "--centering", str(tmp_path / "stats")))
    d = tmp_path / "out" / "tiny-nli-global-softmax+centered"
    results = read_results(d / "xnli.json")
    assert results["model"]["centering"]["uses_unlabeled_target_text"] is True
    plain = {p["id"]: loglik(p) for p in reference[2]}           # log-likelihoods: the tiny model's probs saturate
    centred = {p["id"]: loglik(p) for p in predictions(d / "xnli.predictions.jsonl")}
    for i, probs in centred.items():
        if i.startswith("xnli-en-"):
            assert probs == pytest.approx(plain[i], abs=1e-5)
    assert any(probs != pytest.approx(plain[i], abs=1e-5) for i, probs in centred.items() if i.startswith("xnli-hi-"))


def test_a_hub_copy_evaluates_like_the_same_rows_from_data_dir(reference, checkpoint, data_dir, tmp_path):
    """`eval run --hub-dir`: the task's Hub dataset read from its local copy (facebook/xnli's own schema: a
    ClassLabel label, no id or lang column) scores exactly as the same rows read from --data-dir."""
    import datasets

    from tasks import get_task
    from tasks.data import read_jsonl
    from tasks.hub_copy import local_copy, write_split

    task = get_task("xnli")
    rows = read_jsonl(data_dir / "xnli" / "test.jsonl", task, lang="hi")
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    ds = datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in ("premise", "hypothesis", "label")},
                                    features=features)
    write_split(ds, local_copy(tmp_path / "hub", task.hub), "hi", "test")
    main(["run", "--model", str(checkpoint), "--task", "xnli", "--languages", "hi", "--hub-dir", str(tmp_path / "hub"),
          "--output", str(tmp_path / "out"), "--batch-size", "4", "--bootstrap", "200", "--no-progress"])
    d = tmp_path / "out" / "tiny-nli-global-softmax"
    hub = read_results(d / "xnli.json")
    assert hub["config"]["data_source"] == "hub:facebook/xnli@main" and hub["config"]["hub_dir"] == str(tmp_path / "hub")
    assert json.loads((d / "xnli.json").read_text())["configs"]["xnli"]["dataset_path"] == "hub:facebook/xnli@main"
    assert f"a local copy (in {tmp_path / 'hub'}) of the hub (facebook/xnli, split test)" in hub["sample_note"]
    assert hub["results"]["hi"]["acc,none"] == reference[1]["results"]["hi"]["acc,none"]
    ref = [p for p in reference[2] if p["lang"] == "hi"]
    got = predictions(d / "xnli.predictions.jsonl")
    assert [(p["doc_hash"], p["predicted"]) for p in got] == [(p["doc_hash"], p["predicted"]) for p in ref]
    with pytest.raises(SystemExit) as e:
        main(["run", "--model", str(checkpoint), "--task", "xnli", "--hub-dir", str(tmp_path / "hub"),
              "--data-dir", str(data_dir), "--output", str(tmp_path / "out")])
    assert e.value.code == 2
