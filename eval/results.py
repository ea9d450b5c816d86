"""Results files: one JSON per (model, task) run, written atomically, in lm-evaluation-harness's results schema
(`lm_eval.utils.make_table` renders them; keys as lm_eval 0.4.13 writes them), with LayerBridge's extras as extra
keys. In memory (what `eval.runner.evaluate` returns and `read_results` gives back, whichever file version it read)
a run is the per-language "view" below; `to_lm_eval` and `from_lm_eval` convert between the two.

The file (schema "layerbridge-results/2"; <task> e.g. "sib200", a subtask per language "<task>_<lang>", e.g.
"sib200_sin_Sinh", and per named language group "<task>_<group>", e.g. "sib200_low-resource"):
{
  "results": {"<task>": {"alias", "acc,none", "acc_stderr,none", "f1_macro,none", "sample_len"},  # the average
              "<task>_<lang>": {... the same for one language}, "<task>_<group>": {...}},
              # alignment tasks: "retrieval@1,layer_<i>", "retrieval@1,fused", "fusion_weight,layer_<i>"
  "groups": {"<task>": {...}, "<task>_<group>": {...}},          # the averages, as in "results"
  "group_subtasks": {"<task>": ["<task>_<lang>", ..., "<task>_<group>", ...]},
  "configs": {"<task>": {"task", "output_type", "num_fewshot", "doc_to_text", "doc_to_choice", "target_delimiter",
                         "dataset_path", "metadata": {"version"}}, "<task>_<lang>": {"task", "group", ...}},
  "versions": {"<task>": "1.0", "<task>_<lang>": "1.0", ...},  # the task's version ({} where the view lacks it)
  "n-shot": {...: 0}, "higher_is_better": {...: {"acc": true, "f1_macro": true}},
  "n-samples": {"<task>_<lang>": {"original": int, "effective": int, "truncated": int}},
  "config": {"model": <name>, "model_args": <the model's describe(): kind, path, strategy, encoder, llm,
             checkpoint_sha256, centering, members, ...>, "model_dtype", "bootstrap_iters", "random_seed",
             + the view's config (scoring, precision, limit, data_source, batch_size, processes, languages, ...)},
  "date": float (UNIX time), "total_evaluation_time_seconds": str,
  # LayerBridge's extras:
  "schema": "layerbridge-results/2", "task": "<task>", "task_config": {... data hashes, "hash"},
  "intervals": {"<task>_<lang>": {"acc_ci95,none": [lo, hi], ...}},   # 95% bootstrap intervals
  "language_groups": {"<task>_<group>": {"name": "<group>", "languages": [str]}},
  "sample_note": str, "resumed_examples": int, "library_versions": {...}, "hardware": str, "date_utc": ISO 8601
}

The view (schema "layerbridge-results/1", also the format of the files written before version 2, which are read as
they are; "task_config", "acc_stderr,none" and "precision" were added to it later: older files lack them and still
load, and readers show what is missing as unknown):
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
from datetime import datetime

from fusion.errors import DataError
from fusion.files import read_json

SCHEMA = "layerbridge-results/1"       # the in-memory view, and the files written before version 2
FILE_SCHEMA = "layerbridge-results/2"  # lm-evaluation-harness's results schema with our extras
LM_EVAL_CONFIG = ("model", "model_args", "model_dtype", "bootstrap_iters", "random_seed")  # what to_lm_eval adds
RENAMED = (("task_config", "task_config"), ("versions", "library_versions"), ("date", "date_utc"))  # view, file


def read_results(path) -> dict:
    """A results file (either version) as the per-language view, or ValueError with the reason it is not one of
    ours."""
    data = read_json(path, DataError)   # a ValueError
    if isinstance(data, dict) and data.get("schema") == FILE_SCHEMA:
        data = from_lm_eval(data)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"not a {FILE_SCHEMA} or {SCHEMA} file")
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


def subtask(task: str, lang: str) -> str:
    """A view's results key as lm-eval's task name: "average" -> the task, "group:<name>" -> "<task>_<name>", a
    language -> "<task>_<lang>"."""
    return task if lang == "average" else f"{task}_{lang.removeprefix('group:')}"


def to_lm_eval(view: dict) -> dict:
    """The results file (lm-evaluation-harness's schema, FILE_SCHEMA) of a per-language view."""
    task, config, task_config = view["task"], dict(view.get("config") or {}), view.get("task_config") or {}
    version = task_config.get("version")
    results, intervals, groups, language_groups = {}, {}, {}, {}
    for lang, metrics in view["results"].items():
        name = subtask(task, lang)
        entry = {"alias": name}
        for key, value in metrics.items():
            if key == "n":
                entry["sample_len"] = value
            elif key == "languages":
                language_groups[name] = {"name": lang.removeprefix("group:"), "languages": list(value)}
            elif isinstance(value, list):                    # an interval: make_table prints numbers only
                intervals.setdefault(name, {})[key] = value
            else:
                entry[key] = value
        results[name] = entry
        if lang == "average" or lang.startswith("group:"):
            groups[name] = entry
    names = list(results)
    metrics = sorted({k.partition(",")[0] for e in results.values() for k in e if "," in k and "_stderr," not in k})
    better = {m: None if m.startswith("fusion_weight") else True for m in metrics}   # a layer's weight: neither
    task_entry = {"task": task, "output_type": "generate_until" if config.get("scoring") == "generate"
                  else "multiple_choice", "num_fewshot": 0, "doc_to_text": task_config.get("template"),
                  "doc_to_choice": task_config.get("choices"), "target_delimiter": task_config.get("target_delimiter"),
                  "dataset_path": config.get("data_source"), "metadata": {"version": version}}
    configs = {n: task_entry if n == task else {"task": n, "group": task, "num_fewshot": 0,
                                                "metadata": {"version": version}} for n in names}
    model = dict(view["model"])
    out = {"results": results, "groups": groups, "group_subtasks": {task: [n for n in names if n != task]},
           "configs": configs, "versions": {n: version for n in names} if version is not None else {},
           "n-shot": {n: 0 for n in names},
           "higher_is_better": {n: better for n in names},
           "n-samples": {subtask(task, lang): {"original": c.get("available"), "effective": c.get("effective"),
                                               **{k: v for k, v in c.items() if k not in ("available", "effective")}}
                         for lang, c in (view.get("n_samples") or {}).items()},
           "config": {"model": model["name"], "model_args": model, "model_dtype": config.get("precision"),
                      "bootstrap_iters": config.get("bootstrap"), "random_seed": config.get("seed"), **config},
           "date": datetime.fromisoformat(view["date"]).timestamp() if view.get("date") else None,
           "total_evaluation_time_seconds": str(view.get("wall_seconds", "")),
           "schema": FILE_SCHEMA, "task": task, "intervals": intervals, "language_groups": language_groups}
    taken = {"schema", "model", "task", "config", "results", "n_samples", "wall_seconds", *(v for v, _ in RENAMED)}
    out.update({k: v for k, v in view.items() if k not in taken})
    out.update({theirs: view[ours] for ours, theirs in RENAMED if ours in view})
    return out


def from_lm_eval(data: dict) -> dict:
    """The per-language view of a results file in lm-evaluation-harness's schema (FILE_SCHEMA); ValueError where
    it lacks what the view needs."""
    try:
        task, config, results = data["task"], dict(data["config"]), data["results"]
        model = dict(config["model_args"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"malformed {FILE_SCHEMA} file: {e!r}") from e
    if not isinstance(results, dict) or not isinstance(task, str):
        raise ValueError(f"malformed {FILE_SCHEMA} file: 'results' or 'task'")
    groups, intervals = data.get("language_groups") or {}, data.get("intervals") or {}

    def lang_of(name: str) -> str:
        if name == task:
            return "average"
        return f"group:{groups[name]['name']}" if name in groups else name.removeprefix(f"{task}_")

    view_results = {}
    for name, entry in results.items():
        if not isinstance(entry, dict):
            raise ValueError(f"results[{name!r}] is not an object")
        metrics = {k: v for k, v in entry.items() if k not in ("alias", "name", "sample_len", "sample_count")}
        metrics.update(intervals.get(name) or {})
        if "sample_len" in entry:
            metrics["n"] = entry["sample_len"]
        if name in groups:
            metrics["languages"] = list(groups[name]["languages"])
        view_results[lang_of(name)] = metrics
    n_samples = {lang_of(name): {"effective": c.get("effective"), "available": c.get("original"),
                                 **{k: v for k, v in c.items() if k not in ("original", "effective")}}
                 for name, c in (data.get("n-samples") or {}).items()}
    for key in LM_EVAL_CONFIG:
        config.pop(key, None)
    lm_eval_keys = {"results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
                    "n-samples", "config", "date", "total_evaluation_time_seconds", "schema", "task", "intervals",
                    "language_groups", *(theirs for _, theirs in RENAMED)}
    view = {"schema": SCHEMA, "model": model, "task": task, "config": config, "results": view_results,
            **{k: v for k, v in data.items() if k not in lm_eval_keys}}
    if n_samples:
        view["n_samples"] = n_samples
    view.update({ours: data[theirs] for ours, theirs in RENAMED if theirs in data})
    seconds = data.get("total_evaluation_time_seconds")
    if seconds not in (None, ""):
        view["wall_seconds"] = float(seconds)
    return view
