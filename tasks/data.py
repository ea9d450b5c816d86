"""Reading task examples from local JSON Lines files (schema of ../shared/benchdata) or the hub, with checks
that stop on bad data with a message naming the file and line."""
import json
import os
import random
import re
from pathlib import Path

from fusion.errors import BackboneUnavailableError, DataError
from fusion.files import iter_jsonl

from .definitions import HubSource, Task


def read_jsonl(path, task: Task, lang: str | None = None) -> list[dict]:
    """Rows of a JSON Lines file, checked against the task: required fields present, labels in range."""
    rows = [check_example(row, task, f"{path}:{n}") for n, row in iter_jsonl(path)
            if lang is None or "lang" not in row or row["lang"] == lang]
    if not rows:
        raise DataError(f"{path} has no examples" + (f" for language {lang!r}" if lang else ""))
    return rows


def check_example(row: dict, task: Task, where: str) -> dict:
    missing = [f for f in (*task.text_fields, "label") if f not in row]
    if missing:
        raise DataError(f"{where}: missing field(s) {', '.join(missing)} (task {task.name} needs "
                        f"{', '.join((*task.text_fields, 'label'))})")
    label = row["label"]
    if isinstance(label, str) and label in task.choices:
        label = task.choices.index(label)
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(task.choices):
        raise DataError(f"{where}: label {row['label']!r} is not one of the task's labels "
                        f"0..{len(task.choices) - 1} ({', '.join(task.choices)})")
    for f in task.text_fields:
        if not isinstance(row[f], str) or not row[f].strip():
            raise DataError(f"{where}: field {f!r} is empty or not a string")
    return {**row, "label": label}


def load_hub(source: HubSource, task: Task, lang: str | None = None) -> list[dict]:
    """A hub dataset split; fails at once, with a message, where the hub is unreachable."""
    from fusion.backbones import hub_reachable
    fmt = lambda s: s.format(lang=lang) if s else s
    if not hub_reachable():
        raise BackboneUnavailableError(
            f"dataset {source.path} ({fmt(source.config) or 'default'}/{fmt(source.split)}) needs the Hugging Face "
            f"hub, which is unreachable here (or HF_HUB_OFFLINE=1): pass --data-dir with local JSON Lines files")
    import datasets
    ds = datasets.load_dataset(source.path, fmt(source.config), split=fmt(source.split))
    rows = []
    for i, raw in enumerate(ds):
        row = {source.fields.get(k, k): v for k, v in dict(raw).items()}
        if source.label_names and isinstance(row.get("label"), str):
            row["label"] = list(source.label_names).index(row["label"]) if row["label"] in source.label_names \
                else row["label"]
        row.setdefault("id", f"{task.name}-{lang}-{i}")
        row.setdefault("lang", lang)
        rows.append(check_example(row, task, f"{source.path}[{i}]"))
    return rows


def file_languages(path) -> list[str]:
    """The `lang` values of a JSON Lines file, in order of first appearance."""
    return list(dict.fromkeys(str(row["lang"]) for _, row in iter_jsonl(path) if "lang" in row))


def available_languages(task: Task, data_dir=None) -> list[str]:
    """The languages a test run may ask for: the task's own, and for a task with open languages (SIB-200 exists in
    205) whatever languages its local file holds, the task's own order first."""
    if data_dir is None or not task.open_languages or "*" not in task.local_test:
        return list(task.languages)
    present = file_languages(Path(data_dir) / task.local_test["*"])
    return [lang for lang in task.languages if lang in present] + [lang for lang in present if lang not in task.languages]


def load_test(task: Task, lang: str, data_dir=None, limit: int | None = None) -> list[dict]:
    """The test examples of one language: from --data-dir when given, else from the hub."""
    if lang not in task.languages and not (task.open_languages and data_dir is not None):
        raise DataError(f"task {task.name} has no language {lang!r}; it has {', '.join(task.languages)}")
    if data_dir is not None:
        rel = task.local_test.get(lang) or task.local_test.get("*")
        if rel is None:
            raise DataError(f"no local test file for {task.name}/{lang} (local languages: "
                            f"{', '.join(k for k in task.local_test if k != '*') or 'any via *'})")
        try:
            rows = read_jsonl(Path(data_dir) / rel, task, lang=lang)
        except DataError:  # a language the file does not hold: name the ones it does (read again only here)
            if task.open_languages and lang not in (present := file_languages(Path(data_dir) / rel)):
                raise DataError(f"{Path(data_dir) / rel} has no examples for language {lang!r}; it has "
                                f"{', '.join(present) or 'no lang field'}") from None
            raise
    else:
        rows = load_hub(task.hub, task, lang)
    for i, row in enumerate(rows):
        row.setdefault("id", f"{task.name}-{lang}-{i}")
    return stratified_sample(rows, limit)


def stratified_sample(rows: list[dict], limit: int | None, seed: int = 0) -> list[dict]:
    """`limit` rows, the classes as balanced as the data allow, chosen with a fixed seed, kept in file order.
    (The shared files are sorted by label: their first N rows would be a single class.)"""
    if not limit or limit >= len(rows):
        return rows
    rng = random.Random(seed)
    by_label: dict = {}
    for i, row in enumerate(rows):
        by_label.setdefault(row["label"], []).append(i)
    queues = []
    for label in sorted(by_label):
        idx = by_label[label][:]
        rng.shuffle(idx)
        queues.append(idx)
    chosen: list[int] = []
    while len(chosen) < limit:
        for q in queues:
            if q and len(chosen) < limit:
                chosen.append(q.pop())
    return [rows[i] for i in sorted(chosen)]


def load_train(task: Task, train_file=None, data_dir=None, hub_id: str | None = None) -> list[dict]:
    """English training examples: an explicit file, the task's file under --data-dir, or the hub."""
    if train_file is not None:
        return read_jsonl(train_file, task)
    if hub_id is not None:
        return load_hub(HubSource(hub_id, split="train"), task, "en")
    if data_dir is not None and task.train_local:
        return read_jsonl(Path(data_dir) / task.train_local, task)
    if task.train_hub is not None:
        return load_hub(task.train_hub, task, "en")
    raise DataError(f"no training data for task {task.name}: pass --train-file or --data-dir")


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")   # English sentence boundaries: punctuation, then white space


def sentence_chunks(rows: list[dict], field: str, size: int, min_words: int = 4) -> list[dict]:
    """Each row's `field` cut into runs of at most `size` consecutive sentences, one row per run (same label; id
    "<id>#<k>"). Runs of fewer than `min_words` words (a stray heading) are dropped."""
    out = []
    for row in rows:
        sentences = [s for s in SENTENCE_END.split(row[field].strip()) if s]
        for k in range(0, len(sentences), size):
            text = " ".join(sentences[k:k + size])
            if len(text.split()) >= min_words:
                out.append({**row, field: text, "id": f"{row.get('id', '')}#{k // size}"})
    return out


def balanced(rows: list[dict], n_classes: int, max_examples: int, seed: int) -> list[dict]:
    """A class-balanced subset (as many per class as the rarest class has, capped at max_examples in all)."""
    by_class = [[r for r in rows if r["label"] == c] for c in range(n_classes)]
    present = [c for c in by_class if c]
    per_class = min(min(len(c) for c in present), max_examples // len(present))
    rng = random.Random(seed)
    out = []
    for c in present:
        c = list(c)
        rng.shuffle(c)
        out += c[:per_class]
    rng.shuffle(out)
    return out
