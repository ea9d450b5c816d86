"""Results files: one JSON per (model, task) run, written atomically; metric keys in lm-evaluation-harness style
(`acc,none`, `f1_macro,none`, `acc_ci95,none`, ...).

Schema (version 1; "task_config", "acc_stderr,none" and "precision" were added later: older files lack them and
still load, and readers show what is missing as unknown):
{
  "schema": "layerbridge-results/1",
  "model": {"name": str, "kind": "fused" | "plain" | ..., "path": str | null, "strategy": str | null,
            "encoder": str | null, "llm": str | null, "checkpoint_sha256": str | null},   # the model's describe()
  "task": str,
  "task_config": {"name", "version", "template", "choices", "target_delimiter", "data": {file: sha256}, "hash"},
  "config": {"scoring": "loglik" | "constrained" | "generate" | str (alignment), "precision": "float32" | "bfloat16",
             "limit": int | null, "data_source": str, "bootstrap": int, "seed": int, "batch_size": int,
             "processes": int, "languages": [str], ("layers": str, alignment)},
  "results": {"<lang>": {"acc,none": float, "acc_stderr,none": float, "acc_ci95,none": [lo, hi],
                         "f1_macro,none": float, "f1_macro_ci95,none": [lo, hi], "n": int}, ...,
              "average": {... same keys, mean over langs},
              "group:<name>": {... same keys, mean over the group's languages, "languages": [str]}},
             # alignment tasks: {"<lang>": {"retrieval@1,layer_<i>": float, ..., "retrieval@1,fused": float, "n": int}}
  "n_samples": {"<lang>": {"effective": int, "available": int, "truncated": int}},
  "sample_note": str,            # e.g. "a class-balanced sample (seed 0) of 60 of 300 examples per language ..."
  "resumed_examples": int,       # classification: examples taken from an interrupted run's predictions
  "versions": {"layerbridge": str, "torch": str, "transformers": str, "scikit-learn": str, "python": str},
  "hardware": str, "date": str (ISO 8601, UTC), "wall_seconds": float
}
"""
from fusion.errors import DataError
from fusion.files import read_json

SCHEMA = "layerbridge-results/1"


def read_results(path) -> dict:
    """A results file, or ValueError with the reason it is not one of ours."""
    data = read_json(path, DataError)   # a ValueError
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} file")
    for key in ("model", "task", "results"):
        if key not in data:
            raise ValueError(f"missing key {key!r}")
    if not isinstance(data["results"], dict) or not isinstance(data["model"], dict) or "name" not in data["model"]:
        raise ValueError("malformed 'model' or 'results'")
    if not isinstance(data["model"]["name"], str) or not isinstance(data["task"], str):
        raise ValueError("model name and task must be strings")
    if not isinstance(data.get("date", ""), str):
        raise ValueError("date must be a string")
    for lang, metrics in data["results"].items():
        if not isinstance(metrics, dict) or not all(_metric_value(v) for k, v in metrics.items() if k != "languages"):
            raise ValueError(f"results[{lang!r}] is not an object of numbers")
    return data


def _metric_value(v) -> bool:
    """A number, null, or a list of them (confidence intervals)."""
    number = lambda x: x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))
    return number(v) or (isinstance(v, list) and all(number(x) for x in v))
