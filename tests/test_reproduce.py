"""Shipped bridges, re-evaluated on a small sample, give the predictions on record: byte for byte against a golden
file whose values were recorded before the refactor of issue #38 (tests/data/golden, bfloat16), and to 1e-4 against
the float32 predictions stored in results/ (lines of the format written before issue #35: gold, correct, loglik).

The golden file is regenerated only when a deliberate change of the predictions' line format changes its bytes,
never to make a changed number pass: run tests/data/golden/provenance.json's "command" on a CPU with its cpu_flags
and torch, copy <dir>/pocket-topic-residual-softmax/sib200.predictions.jsonl over the golden one, check that every
value of the old lines is unchanged (under the format's renaming), and say so in provenance.json's "what"."""
import json
from pathlib import Path

import pytest
import torch

from eval.runner import evaluate

pytestmark = pytest.mark.pocket

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"


def cpu_flags() -> set:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))


def unlike_the_golden_machine(recorded: dict) -> str | None:
    """Why this machine cannot reproduce the golden bytes, or None: bfloat16 CPU kernels differ between CPUs (and
    torch versions), so bytes are compared only on a CPU with the recorded features and torch."""
    missing = set(recorded["cpu_flags"]) - cpu_flags()
    if missing:
        return f"this CPU lacks {', '.join(sorted(missing))}: its bfloat16 kernels give other bits"
    if torch.backends.cpu.get_cpu_capability() != recorded["cpu_capability"]:
        return f"torch uses {torch.backends.cpu.get_cpu_capability()} kernels here, {recorded['cpu_capability']} there"
    if torch.__version__ != recorded["torch"]:
        return f"torch {torch.__version__} here, {recorded['torch']} when recorded"
    return None


def test_a_shipped_bridge_gives_the_recorded_predictions_byte_for_byte(benchdata, tmp_path):
    recorded = json.loads((GOLDEN / "provenance.json").read_text())
    reason = unlike_the_golden_machine(recorded)
    if reason:
        pytest.skip(reason)
    golden = json.loads((GOLDEN / "sib200.json").read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(recorded["torch_threads"])               # the thread count changes bfloat16 sums
    try:
        r = evaluate(str(ROOT / golden["model"]["path"]), "sib200", languages=golden["config"]["languages"],
                     data_dir=benchdata, limit=golden["config"]["limit"], output_dir=tmp_path,
                     batch_size=recorded["batch_size"], precision=recorded["precision"], progress=False)
    finally:
        torch.set_num_threads(threads)
    written = tmp_path / golden["model"]["name"] / "sib200.predictions.jsonl"
    assert written.read_bytes() == (GOLDEN / "sib200.predictions.jsonl").read_bytes()
    for key in ("results", "n_samples", "task_config"):
        assert r[key] == golden[key], key
    where = lambda note: note.split(" data in ")[0]          # the note names the data folder, which moves with a clone
    assert where(r["sample_note"]) == where(golden["sample_note"])
    assert {k: v for k, v in r["model"].items() if k != "path"} == \
        {k: v for k, v in golden["model"].items() if k != "path"}
    assert {k: v for k, v in r["config"].items() if k != "data_source"} == \
        {k: v for k, v in golden["config"].items() if k != "data_source"}


def test_a_shipped_bridge_reproduces_its_float32_results_on_file(benchdata, tmp_path):
    """On any CPU: the news bridge trained on single sentences (seed 1), scored in float32 as results/ holds it,
    predicts the same labels on a sample, with log-likelihoods within 1e-4 of those stored (measured here: 1e-5;
    float32 sums depend on the CPU's kernels and threads, so bytes are not compared)."""
    name, task = "pocket-news-sent-last-s1", "sinhala_news"
    stored_results = ROOT / "results" / name / f"{task}.json"
    if not stored_results.is_file():
        pytest.skip(f"{stored_results} is not here")
    assert json.loads(stored_results.read_text())["config"]["precision"] == "float32"
    stored = {(r["lang"], str(r["id"])): r for r in map(json.loads, (ROOT / "results" / name /
                                                                     f"{task}.predictions.jsonl").open())}
    evaluate(str(ROOT / "checkpoints" / name), task, languages=["si"], data_dir=benchdata, limit=6,
             output_dir=tmp_path, precision="float32", progress=False)
    new = [json.loads(line) for line in (tmp_path / name / f"{task}.predictions.jsonl").open()]
    assert len(new) == 6
    for r in new:
        old = stored[(r["lang"], str(r["id"]))]
        for key in ("doc_hash", "prompt_hash", "predicted", "truncated", "layer_weights"):
            assert r[key] == old[key], key
        assert r["target"] == old["gold"] and r["acc"] == float(old["correct"])
        assert [score for score, _ in r["filtered_resps"]] == pytest.approx(old["loglik"], abs=1e-4)
        assert r["probs"] == pytest.approx(old["probs"], abs=1e-5)
