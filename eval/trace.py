"""What makes two evaluation runs comparable item by item (in lm-evaluation-harness's manner): a hash of each
example's input fields (`doc_hash`), of the prompt the model read (`prompt_hash`), and a version and hash of the
task definition (template, choices, data file and its hash) for the results header.

Two runs that score the same items carry the same `doc_hash`es, whatever order or sample they were scored in, so
their per-example predictions can be paired exactly (eval.pairing)."""
import hashlib
import json
from pathlib import Path

from fusion.checkpoint import file_sha256


def _sha256(obj) -> str:
    data = obj if isinstance(obj, bytes) else json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def doc_hash(task, row: dict, lang: str) -> str:
    """The hash of an example's input: its language, the task's text fields and its gold label (not its id, not
    the template: the same sentence pair is the same item under another prompt)."""
    fields = {k: str(row[k]).strip() for k in task.text_fields}
    return _sha256({"lang": lang, "fields": fields, "label": row.get("label")})


def prompt_hash(prompt: str) -> str:
    return _sha256(prompt.encode("utf-8"))


def task_definition(task, data_dir=None) -> dict:
    """The results header's "task_config": the task's version, what defines it (template, choices, target
    delimiter, test data and its hash) and `hash`, a hash over all of that. A change of prompt, labels or data
    changes the hash, so two results files with the same hash were scored on the same definition."""
    if data_dir is not None:
        files = sorted(set(getattr(task, "local_test", {}).values()) or {getattr(task, "local_file", "")})
        data = {f: file_sha256(Path(data_dir) / f) for f in files if f}
    else:
        hub = getattr(task, "hub", None)
        data = {f"hub:{hub.path}": None} if hub is not None else {}
    definition = {"name": task.name, "version": getattr(task, "version", None),
                  "template": getattr(task, "template", None), "choices": list(getattr(task, "choices", ())),
                  "target_delimiter": getattr(task, "target_delimiter", None), "data": data}
    return {**definition, "hash": _sha256(definition)}
