"""Reading task examples from local JSON Lines files (schema of ../shared/benchdata) or from each task's Hugging Face
dataset (by its id, or from a local copy in the Hub dataset's layout: tasks.hub_copy), with checks that stop on bad
data with a message naming the file and line."""
import random
import re
import tempfile
from contextlib import nullcontext
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


def read_hub(source: HubSource, lang: str | None, task_name: str, hub_dir=None) -> tuple[object, str]:
    """(the `datasets.Dataset` of one language's split, where it was read) through `datasets.load_dataset`: from the
    Hub (the dataset id at the source's revision; fails at once, with a message, where the Hub is unreachable), or,
    with `hub_dir`, from the local copy of that dataset under it (tasks.hub_copy), read by the same call."""
    from .hub_copy import local_copy
    config, split = source.config_split(lang)
    if hub_dir is not None:
        where = local_copy(hub_dir, source)
        if not where.is_dir():
            raise DataError(f"no local copy of {source.path} in {hub_dir}: write one with `python -m tasks.hub_copy "
                            f"--task {task_name} --output {hub_dir}` where the Hugging Face Hub is reachable")
        kwargs = {"keep_in_memory": True}   # read afresh (below: in a cache of its own): datasets' shared cache could
    else:                                   # hold an older copy of the same layout under the same name
        from fusion.backbones import hub_reachable
        if not hub_reachable():
            raise BackboneUnavailableError(
                f"dataset {source.path} ({config or 'default'}/{split}) needs the Hugging Face hub, which is "
                f"unreachable here (or HF_HUB_OFFLINE=1): pass --data-dir with local JSON Lines files, or --hub-dir "
                f"with a local copy (python -m tasks.hub_copy)")
        where, kwargs = source.path, {"revision": source.revision}
    import datasets
    try:
        with tempfile.TemporaryDirectory() if hub_dir is not None else nullcontext() as cache_dir:
            ds = datasets.load_dataset(str(where), config, split=split, cache_dir=cache_dir, **kwargs)
    except (OSError, ValueError, RuntimeError) as e:  # an unknown config, split or revision, a folder without the
        # dataset's files, a failed download; RuntimeError: a dataset that needs a loading script (datasets runs none)
        raise DataError(f"dataset {where} ({config or 'default'}/{split}): {e}") from e
    return ds, str(where)


def renamed(raw: dict, source: HubSource) -> dict:
    """A Hub row with its columns renamed to the task's fields (`source.fields`)."""
    return {source.fields.get(k, k): v for k, v in raw.items()}


def load_hub(source: HubSource, task: Task, lang: str | None = None, hub_dir=None) -> list[dict]:
    """A Hub dataset split (or its local copy under `hub_dir`: read_hub) as checked task rows: columns renamed by
    `source.fields`, labels mapped from the dataset's names (a string column, or a ClassLabel's names) to the
    task's ids by `source.label_names`."""
    ds, where = read_hub(source, lang, task.name, hub_dir)
    label_column = next((k for k, v in source.fields.items() if v == "label"), "label")
    names = getattr(ds.features.get(label_column), "names", None)   # a ClassLabel: its id -> name
    rows = []
    for i, raw in enumerate(ds):
        row = renamed(dict(raw), source)
        label = row.get("label")
        if source.label_names and names is not None and isinstance(label, int) and 0 <= label < len(names):
            label = names[label]
        if source.label_names and isinstance(label, str) and label in source.label_names:
            label = source.label_names.index(label)
        row["label"] = label
        row.setdefault("id", f"{task.name}-{lang}-{i}")
        row.setdefault("lang", lang)
        rows.append(check_example(row, task, f"{where}[{i}]"))
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


def load_test(task: Task, lang: str, data_dir=None, limit: int | None = None, hub_dir=None) -> list[dict]:
    """The test examples of one language: from --data-dir when given, else from the Hub dataset (or its local copy
    under `hub_dir`)."""
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
        rows = load_hub(task.hub, task, lang, hub_dir=hub_dir)
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
