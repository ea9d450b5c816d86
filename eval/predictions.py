"""Predictions files and resuming: <task>.predictions.jsonl, one JSON line per example.

While scoring, each process appends every finished batch to <task>.predictions.part-<rank>.jsonl and flushes it.
A rerun first merges the predictions file and any part files left by a killed run (a line cut by the kill is
dropped), then scores only the examples not yet there. Each line carries `run`, the run signature: a hash of what
decides the predictions (the model's `signature_parts()` and precision, the task's prompt and labels, the scoring
mode, the scorer's version and the line format), so predictions of another model, precision, mode or format are
never reused.

A classification line holds lm-evaluation-harness's `--log_samples` fields (lm_eval 0.4.13's samples) without the
input text: doc_id (the example's index in its language's test split), doc_hash, prompt_hash, target (the gold
choice's index), arguments ({"gen_args_<i>": {"arg_1": choice i's continuation}}; "arg_0", the prompt, is left
out), resps and filtered_resps (per choice [log-likelihood, null]: lm-eval's is_greedy is not computed; where
the model gives no log-likelihood ("constrained" scoring, the probe, an ensemble) the log of the choice's
probability among the choices; with "generate": the text and its first line), filter "none", metrics ["acc"]
and acc (1.0 or 0.0); then ours: id, lang, target_label, predicted, predicted_label, probs, truncated,
layer_weights, scoring, run. Lines written before this format (results/ keeps
them) have `gold`, `gold_label`, `correct` and `loglik` instead; eval.pairing reads both (`correct`).
"""
import hashlib
import json
import math
import os
from pathlib import Path

from fusion.files import write_text_atomic
from fusion.scoring import SCORER_VERSION

SAMPLES_FORMAT = "log_samples/1"  # the line format: predictions in another format are never resumed


def choice_sample(targets: list[str], loglik: list[float] | None, probs: list[float]) -> dict:
    """lm-eval's arguments, resps and filtered_resps of a multiple-choice example (no prompt text)."""
    scores = loglik if loglik is not None else [math.log(p) if p > 0 else -math.inf for p in probs]
    return dict(arguments={f"gen_args_{i}": {"arg_1": t} for i, t in enumerate(targets)},
                resps=[[[s, None]] for s in scores], filtered_resps=[[s, None] for s in scores],
                filter="none", metrics=["acc"])


def generation_sample(text: str, first_line: str) -> dict:
    """lm-eval's arguments, resps and filtered_resps of a generated answer (no prompt text)."""
    return dict(arguments={"gen_args_0": {}}, resps=[[text]], filtered_resps=[first_line], filter="none",
                metrics=["acc"])


def correct(record: dict) -> bool:
    """Whether a classification line was answered right: lm-eval's `acc`, or `correct` in lines written before."""
    return bool(record["acc"] if "acc" in record else record["correct"])


def scored(record: dict) -> bool:
    """A classification line (it says whether it was right), in either format."""
    return "acc" in record or "correct" in record


def run_signature(model, task, scoring: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([getattr(task, "template", ""), getattr(task, "targets", []), scoring, model.precision,
                         SCORER_VERSION, SAMPLES_FORMAT]).encode())
    for part in model.signature_parts():
        h.update(part)
    return h.hexdigest()[:16]


def key(record: dict) -> tuple:
    """An example's key within a run: (language, id)."""
    return record["lang"], str(record["id"])


def read_predictions(path) -> tuple[list[dict], int]:
    """The complete records of a predictions file (JSON objects with id, lang and run: classification and alignment
    runs' lines alike) and the number of other lines dropped (e.g. a line cut by a kill); ([], 0) for no file."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(record, dict) and {"id", "lang"} <= set(record):
            records.append(record)
        else:
            bad += 1
    return records, bad


def write_lines_atomic(path: Path, records: list[dict]):
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def append_lines(f, records: list[dict]):
    """Append to an open part file and make it durable at once (a kill loses at most the batch being written)."""
    f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    f.flush()
    os.fsync(f.fileno())


def part_path(pred_path: Path, rank: int) -> Path:
    return pred_path.with_name(pred_path.name.replace(".jsonl", f".part-{rank}.jsonl"))


def part_paths(pred_path: Path) -> list[Path]:
    return sorted(pred_path.parent.glob(pred_path.name.replace(".jsonl", ".part-*.jsonl")))


def consolidate(pred_path: Path) -> int:
    """Main process, before scoring: fold part files of an interrupted run into the predictions file (first
    record per example and run wins; cut lines dropped). Returns the number of dropped lines."""
    records, dropped = read_predictions(pred_path)
    for part in part_paths(pred_path):
        more, bad = read_predictions(part)
        records, dropped = records + more, dropped + bad
    if records or dropped or part_paths(pred_path):
        unique = {}
        for r in records:
            unique.setdefault((*key(r), r.get("run")), r)
        write_lines_atomic(pred_path, list(unique.values()))
        for part in part_paths(pred_path):
            part.unlink()
    return dropped


def finished(pred_path: Path, signature: str, wanted: set) -> dict:
    """key -> record of the examples in `wanted` already scored under this run signature."""
    return {key(r): r for r in read_predictions(pred_path)[0] if r.get("run") == signature and key(r) in wanted}


def write_final(pred_path: Path, records: list[dict]):
    """The complete predictions file of a finished run; its part files are no longer needed."""
    write_lines_atomic(pred_path, records)
    for p in part_paths(pred_path):
        p.unlink()
