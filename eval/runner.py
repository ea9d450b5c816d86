"""Batch evaluation of any model kind (fusion.interface: a fused model, the plain-LLM baseline, ...) on a task:
`python -m eval run ...` and `evaluate(...)`, which the benchmark scripts call.

Scoring: "loglik" (default) scores every label string after the prompt with `model.classify` (one backbone pass per
batch, fusion.scoring) and predicts the most likely label; "constrained" predicts the most likely label under
decoding restricted to the label strings (no vocabulary-wide normalizer: faster, less memory); "generate" is the
reference's greedy generation (max_new_tokens = longest label + 2) with an exact match of the stripped first line
against the label strings (no match = wrong), for kinds that can generate. Metrics: eval.metrics (scikit-learn;
not `evaluate.load`, which needs the hub).

Throughput: examples are sorted by prompt length (tokens), scored in batches and put back in order.

Files, under <output_dir>/<model name>/: <task>.json (lm-evaluation-harness's results schema with our extras,
eval.results, written atomically) and <task>.predictions.jsonl, one line per example in the field names of
lm-eval's `--log_samples` (doc_id, doc_hash, prompt_hash, target, arguments, resps, filtered_resps, filter,
metrics, acc; eval.predictions.sample_fields) without the input text, plus id, lang, predicted, per-choice probs,
scoring and the run signature. Resuming an interrupted run: eval.predictions. Versions, hardware and date:
eval.provenance.

Several processes (`accelerate launch --multi_gpu --num_processes N -m eval run ...`; on a machine without CUDA
this runs N CPU processes with gloo, whereas accelerate 1.15's `--cpu` launcher starts only ONE process unless MPI
is set up): every process loads the model and the data and scores the disjoint shard todo[rank::N]; the
predictions are gathered on every process (all_gather_object), and the main process writes the files. The numbers
equal a one-process run.
"""
import sys
import time
from pathlib import Path

import torch

from fusion import load_model
from fusion.errors import ConfigError, DataError
from fusion.interface import check_model
from fusion.probe import probe_dir
from fusion.scoring import SCORINGS as CLASSIFY_SCORINGS
from tasks import AlignmentTask, Task, get_any_task
from tasks.data import available_languages, load_test, stratified_sample

from . import predictions
from .alignment import alignment_scores, load_parallel
from .metrics import classification_metrics
from .predictions import key
from .provenance import provenance
from .results import SCHEMA, to_lm_eval, write_json_atomic
from .trace import doc_hash, prompt_hash, task_definition

SCORINGS = (*CLASSIFY_SCORINGS, "generate")  # classify's scorings (fusion.scoring) + generation
REPO = Path(__file__).resolve().parents[1]


def safe_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_.+" else "-" for c in name).strip(".")
    if not out:
        raise ConfigError(f"model name {name!r} gives no usable directory name; pass --name")
    return out


# ---------------------------------------------------------------- data

def default_languages(task, data_dir) -> list[str]:
    """All task languages; with --data-dir only those that have a local file (for a task with open languages:
    every language of its local file)."""
    if isinstance(task, AlignmentTask):
        return list(task.languages)
    if data_dir is None or "*" in task.local_test:
        return available_languages(task, data_dir)
    return [lang for lang in task.languages if lang in task.local_test]


def check_languages(task, languages, data_dir=None) -> list[str]:
    languages = list(languages)
    if not languages:
        raise ConfigError("give at least one language")
    known = list(task.languages) if isinstance(task, AlignmentTask) else available_languages(task, data_dir)
    unknown = [lang for lang in languages if lang not in known]
    if unknown:
        where = f" in {data_dir}" if data_dir is not None and getattr(task, "open_languages", False) else ""
        raise DataError(f"task {task.name} has no language {', '.join(map(repr, unknown))}{where}; "
                        f"it has {', '.join(known)}")
    if len(set(languages)) != len(languages):
        raise ConfigError(f"a language is given twice: {' '.join(languages)}")
    return languages


def load_examples(task: Task, languages, data_dir, limit, hub_dir=None) -> tuple[list[dict], dict]:
    """[{lang, id, prompt, gold}] in language order, and the number of examples available per language."""
    examples, available = [], {}
    for lang in languages:
        rows = load_test(task, lang, data_dir=data_dir, hub_dir=hub_dir)
        available[lang] = len(rows)
        position = {id(row): i for i, row in enumerate(rows)}  # doc_id: the row's index in its language's test split
        seen = set()
        for row in stratified_sample(rows, limit):
            if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
                raise DataError(f"task {task.name}/{lang}: id {row['id']!r} is not a string or integer")
            if str(row["id"]) in seen:
                raise DataError(f"task {task.name}/{lang}: id {row['id']!r} occurs more than once; ids must be "
                                f"unique (resuming relies on them)")
            seen.add(str(row["id"]))
            prompt = task.prompt(row)
            examples.append(dict(lang=lang, id=row["id"], doc_id=position[id(row)], prompt=prompt, gold=row["label"],
                                 doc_hash=doc_hash(task, row, lang), prompt_hash=prompt_hash(prompt)))
    return examples, available


# ---------------------------------------------------------------- scoring

def score_batch(model, task: Task, batch: list[dict], scoring: str, signature: str) -> list[dict]:
    prompts = [e["prompt"] for e in batch]
    base = lambda e: dict(doc_id=e.get("doc_id"), doc_hash=e.get("doc_hash"), prompt_hash=e.get("prompt_hash"),
                          target=e["gold"], id=e["id"], lang=e["lang"], target_label=task.choices[e["gold"]])
    records = []
    if scoring != "generate":
        # a model that centres its encoder states per language (fusion.centering) reads each example's language
        kw = {"languages": [e["lang"] for e in batch]} if getattr(model, "centering", None) is not None else {}
        for e, out in zip(batch, model.classify(prompts, task.targets, batch_size=len(batch), scoring=scoring, **kw)):
            r = dict(base(e), **predictions.choice_sample(task.targets, out.get("loglik"), out["probs"]),
                     acc=float(out["pred"] == e["gold"]), predicted=out["pred"],
                     predicted_label=task.choices[out["pred"]], probs=out["probs"], truncated=out.get("truncated"))
            if "layer_weights" in out:  # fused model: mean fusion weight per encoder layer over the tokens
                r["layer_weights"] = out["layer_weights"]
            records.append(dict(r, scoring=scoring, run=signature))
    else:
        tok = model.llm_tokenizer
        longest = max(len(tok(t, add_special_tokens=False)["input_ids"]) for t in task.targets)
        for e, text in zip(batch, model.generate(prompts, max_new_tokens=longest + 2)):
            first = text.strip().split("\n")[0].strip()
            pred = task.choices.index(first) if first in task.choices else -1
            records.append(dict(base(e), **predictions.generation_sample(text, first), acc=float(pred == e["gold"]),
                                predicted=pred, predicted_label=task.choices[pred] if pred >= 0 else None,
                                scoring=scoring, run=signature))
    return records


def score_all(model, task, todo: list[dict], scoring, batch_size, signature, part: Path | None, bar) -> list[dict]:
    """Records for `todo` (in its order); batches of similar length, longest first; each batch appended to
    `part` and flushed as soon as it is scored."""
    lengths = model.prompt_lengths([e["prompt"] for e in todo]) if todo else []
    order = sorted(range(len(todo)), key=lambda i: -lengths[i])
    out = [None] * len(todo)
    f = open(part, "a", encoding="utf-8") if part is not None else None
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            records = score_batch(model, task, [todo[i] for i in idx], scoring, signature)
            for i, r in zip(idx, records):
                out[i] = r
            if f is not None:
                predictions.append_lines(f, records)
            bar.update(len(idx))
    finally:
        if f is not None:
            f.close()
    return out


# ---------------------------------------------------------------- the results file

def sample_note(task: Task, data_dir, limit, available: dict, effective: dict, hub_dir=None) -> str:
    lo, hi = min(available.values()), max(available.values())
    avail = f"{lo}" if lo == hi else f"{lo}-{hi}"
    where = (f"{Path(data_dir) / (task.local_test.get('*') or next(iter(task.local_test.values())))}" if data_dir
             else f"{'a local copy (in ' + str(hub_dir) + ') of ' if hub_dir else ''}the hub ({task.hub.path}, split "
                  f"{task.hub.split})")
    taken = f"a class-balanced sample (seed 0) of {limit} of {avail}" if limit and any(effective[l] < available[l] for l in available) \
        else f"all {avail}"
    return f"{taken} examples per language of the {task.name} test data in {where}" + \
        (" (a sample of the test set, not the full test set)" if data_dir or limit else "")



def results_file(task, info: dict, config: dict, results: dict, n_samples: dict, sample_note: str, state, t0,
                 **extra) -> dict:
    """The results file (schema of eval.results), built the same way for every kind of task."""
    data_dir = None if config["data_source"].startswith("hub:") else config["data_source"]
    return {"schema": SCHEMA, "model": info, "task": task.name, "task_config": task_definition(task, data_dir),
            "config": config, "results": results,
            "n_samples": n_samples, "sample_note": sample_note, **extra, **provenance(state.num_processes, t0)}


def write_run(out_dir: Path | None, task, results: dict, lines: list[dict], state):
    """Main process: <task>.predictions.jsonl (complete, part files removed) and then <task>.json."""
    if out_dir is None:
        return
    if state.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        predictions.write_final(out_dir / f"{task.name}.predictions.jsonl", lines)
        write_json_atomic(out_dir / f"{task.name}.json", to_lm_eval(results))
    state.wait_for_everyone()


# ---------------------------------------------------------------- the API

def evaluate(model, task_name: str, languages=None, data_dir=None, limit: int | None = None, output_dir=None,
             batch_size: int = 16, scoring: str = "loglik", bootstrap: int = 1000, seed: int = 0,
             model_name: str | None = None, progress: bool = True, strategy: str | None = None,
             precision: str = "auto", centering=None, hub_dir=None) -> dict:
    """Evaluate `model` (a model of the fusion.interface kinds, or a checkpoint dir, preset name or "plain:<llm>")
    on a task. Returns the results dict (schema of eval.results); with `output_dir`, writes
    <output_dir>/<name>/<task>.json and <task>.predictions.jsonl, resuming from the predictions of an interrupted
    run. `centering`: a fusion.centering.LanguageCentering the model applies per example language (the run then uses
    unlabeled target-language text, and its name says "+centered"). `hub_dir`: read the task's Hub dataset from
    its local copy there (tasks.hub_copy) instead of the Hub. Bad input raises fusion.errors (ConfigError,
    DataError, CheckpointError, ...)."""
    from accelerate import PartialState

    t0 = time.time()
    task = get_any_task(task_name)
    if isinstance(task, AlignmentTask) and isinstance(model, str) and model.startswith("plain:"):
        raise ConfigError(no_encoder_message(task, model))
    if scoring not in SCORINGS:
        raise ConfigError(f"unknown scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
    for name, value, low in (("batch_size", batch_size, 1), ("bootstrap", bootstrap, 0), ("limit", limit, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    if hub_dir is not None and (data_dir is not None or not Path(hub_dir).is_dir()):
        raise (ConfigError("give --data-dir or --hub-dir, not both") if data_dir is not None
               else DataError(f"hub copy directory {hub_dir} does not exist"))
    languages = check_languages(task, languages or default_languages(task, data_dir), data_dir)
    if isinstance(task, AlignmentTask):  # data first: a bad file fails before the model loads
        rows = load_parallel(task, data_dir, languages)
    else:
        examples, available = load_examples(task, languages, data_dir, limit, hub_dir)

    state = PartialState(cpu=not torch.cuda.is_available())  # CPU-only machines: gloo across processes
    if isinstance(model, str) and model.startswith("probe:"):
        model = probe_directory(model, task)
    if isinstance(model, str):
        torch.manual_seed(seed)  # a preset's untrained bridge is random: the same weights in every process
        model = load_model(model, strategy=strategy, device=state.device, dtype=precision)
    if centering is not None:
        if getattr(model, "use_centering", None) is None:
            raise ConfigError(f"{type(model).__name__} has no encoder states to centre: --centering needs a bridge, "
                              f"an ensemble of bridges or the encoder-alone probe")
        model.use_centering(centering)
    info = check_model(model).describe()
    if model_name:
        info["name"] = model_name
    out_dir = Path(output_dir) / safe_name(info["name"]) if output_dir is not None else None
    config = dict(precision=model.precision, limit=limit, seed=seed, batch_size=batch_size,
                  processes=state.num_processes, languages=languages)

    if hub_dir is not None:
        config["hub_dir"] = str(hub_dir)
    common = dict(task=task, languages=languages, data_dir=data_dir, limit=limit, info=info, config=config,
                  out_dir=out_dir, state=state, t0=t0, progress=progress, batch_size=batch_size)
    if isinstance(task, AlignmentTask):
        return evaluate_alignment(model, rows, **common)
    return evaluate_classification(model, examples, available, scoring=scoring, bootstrap=bootstrap, seed=seed,
                                   **common)


def probe_directory(spec: str, task) -> str:
    """probe:<preset> -> checkpoints/probe-<preset>-<family of the task>, the probe trained on that family's data."""
    preset = spec.split(":", 1)[1]
    path = probe_dir(REPO / "checkpoints", preset, getattr(task, "family", ""))
    if not (path / "probe.safetensors").is_file():
        raise ConfigError(f"{spec}: no trained probe for task {task.name} at {path}; train it with `python -m "
                          f"training.train_probe --preset {preset} --task {task.name} --data-dir ... --output-dir {path}`")
    return str(path)


def no_encoder_message(task, what) -> str:
    return (f"task {task.name} compares the encoder's layers and needs a fused model (a checkpoint directory or a "
            f"preset), not {what!r}, which has no encoder")


def evaluate_classification(model, examples, available, *, task, languages, data_dir, limit, seed, info, config,
                            out_dir, state, t0, progress, batch_size, scoring, bootstrap) -> dict:
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    if scoring == "generate" and getattr(model, "generate", None) is None:
        raise ConfigError(f"{info['name']} cannot generate text: use --scoring loglik or constrained")
    signature = predictions.run_signature(model, task, scoring)
    pred_path = out_dir / f"{task.name}.predictions.jsonl" if out_dir is not None else None
    done = {}
    if pred_path is not None:
        if state.is_main_process:
            out_dir.mkdir(parents=True, exist_ok=True)
            dropped = predictions.consolidate(pred_path)
            if dropped:
                print(f"note: dropped {dropped} incomplete line(s) of an interrupted run in {pred_path}; "
                      f"those examples are scored again", file=sys.stderr)
        state.wait_for_everyone()
        done = predictions.finished(pred_path, signature, {key(e) for e in examples})
    todo = [e for e in examples if key(e) not in done]
    mine = todo[state.process_index::state.num_processes]
    part = predictions.part_path(pred_path, state.process_index) if pred_path is not None else None
    resumed = f", {len(done)} resumed" if done else ""
    with tqdm(total=len(mine), desc=f"{task.name} {info['name']}{resumed}", unit="ex",
              disable=not (progress and state.is_main_process)) as bar:
        with torch.inference_mode():
            new = score_all(model, task, mine, scoring, batch_size, signature, part, bar)
    new = gather_object(new)
    records = {**done, **{key(r): r for r in new}}
    ordered = [records[key(e)] for e in examples]  # every example exactly once, in data order

    per_lang = {lang: ([r["target"] for r in ordered if r["lang"] == lang],
                       [r["predicted"] for r in ordered if r["lang"] == lang]) for lang in languages}
    effective = {lang: len(per_lang[lang][0]) for lang in languages}
    results = results_file(
        task, info, dict(scoring=scoring, **config, bootstrap=bootstrap,
                         data_source=str(data_dir) if data_dir else f"hub:{task.hub.path}@{task.hub.revision}"),
        classification_metrics(per_lang, range(len(task.choices)), bootstrap, seed, task.groups),
        {lang: {"effective": effective[lang], "available": available[lang],
                "truncated": sum(bool(r.get("truncated")) for r in ordered if r["lang"] == lang)}
         for lang in languages},
        sample_note(task, data_dir, limit, available, effective, config.get("hub_dir")), state, t0,
        resumed_examples=len(done))
    write_run(out_dir, task, results, ordered, state)
    return results


def evaluate_alignment(model, rows, *, task, languages, data_dir, limit, info, config, out_dir, state, t0,
                       progress, batch_size) -> dict:
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    if getattr(model, "pooled_states", None) is None:
        raise ConfigError(no_encoder_message(task, info["name"]))
    available = len(rows)
    rows = rows[:limit] if limit else rows
    if len(rows) < 2:
        raise DataError(f"retrieval needs at least 2 sentences; --limit {limit} leaves {len(rows)}")
    mine = list(range(state.process_index, len(rows), state.num_processes))
    local = {}
    sides = [("source", task.source)] + [(lang, lang) for lang in languages]
    with torch.inference_mode():
        for name, lang in tqdm(sides, desc=f"{task.name} {info['name']}", unit="lang",
                               disable=not (progress and state.is_main_process)):
            if mine:
                p = model.pooled_states([rows[i][lang] for i in mine], batch_size=batch_size)
                local[name] = (p["layers"].cpu(), p["fused"].cpu(), p["weights"].cpu())  # [L+1, n, D], [n, D], [n, L']
    pieces = [(idx, loc) for idx, loc in gather_object([(mine, local)]) if idx]
    inverse = torch.tensor([i for idx, _ in pieces for i in idx]).argsort()        # back to row order
    pooled = {name: {"layers": torch.cat([loc[name][0] for _, loc in pieces], 1)[:, inverse],
                     "fused": torch.cat([loc[name][1] for _, loc in pieces], 0)[inverse],
                     "weights": torch.cat([loc[name][2] for _, loc in pieces], 0)[inverse]} for name, _ in sides}
    scores, retrieved = alignment_scores(pooled, model.config.fused_layers(), task.source)
    n = len(rows)
    results = results_file(
        task, info, dict(scoring="retrieval@1: cosine of mean-pooled encoder states, English -> X", **config,
                         bootstrap=0, data_source=str(data_dir),
                         layers=f"hidden states 0..{pooled[languages[0]]['layers'].shape[0] - 1} (0 = embeddings)"),
        scores, {lang: {"effective": n, "available": available} for lang in languages},
        (f"{'first ' + str(n) if n < available else 'all ' + str(n)} of {available} parallel sentences in "
         f"{Path(data_dir) / task.local_file}; each English sentence retrieves among the {n} target sentences "
         f"(fewer candidates make retrieval easier)"), state, t0)
    lines = [dict(id=row["id"], lang=lang, retrieved={k: rows[j]["id"] for k, picks in retrieved[lang].items()
                                                      for j in [picks[i]]})
             for lang in languages for i, row in enumerate(rows)]
    write_run(out_dir, task, results, lines, state)
    return results
