"""How a classification task (tasks.Task) is evaluated: every example's prompt scored against the task's labels
(`model.classify`, or generation), predictions appended as they are scored and resumed after a kill
(eval.predictions), accuracy and macro-F1 per language and language group with bootstrap intervals (eval.metrics).

Throughput: examples are sorted by prompt length (tokens), scored in batches and put back in order. With several
processes each scores the disjoint shard todo[rank::N]; the predictions are gathered on every process
(all_gather_object) and the main process writes the files: the numbers equal a one-process run.
"""
import sys
from pathlib import Path

import torch

from fusion.centering import TextLanguage
from fusion.errors import ConfigError, DataError
from tasks import Task
from tasks.data import available_languages, load_test, stratified_sample

from . import predictions
from .metrics import classification_metrics
from .predictions import key
from .run import Run
from .trace import doc_hash, prompt_hash


class ClassificationEvaluation:
    def __init__(self, task: Task):
        self.task = task

    def known_languages(self, data_dir) -> list[str]:
        return available_languages(self.task, data_dir)

    def default_languages(self, data_dir) -> list[str]:
        """All task languages; with --data-dir only those that have a local file (for a task with open languages:
        every language of its local file)."""
        task = self.task
        if data_dir is None or "*" in task.local_test:
            return available_languages(task, data_dir)
        return [lang for lang in task.languages if lang in task.local_test]

    def check_model(self, spec):
        """Any model kind classifies."""

    def load(self, languages, data_dir, limit, hub_dir=None):
        """Read and check the test examples before the model loads (a bad file fails first)."""
        self.examples, self.available = load_examples(self.task, languages, data_dir, limit, hub_dir)

    def evaluate(self, model, run: Run) -> dict:
        return evaluate_classification(model, self.examples, self.available, run)


def load_examples(task: Task, languages, data_dir, limit, hub_dir=None) -> tuple[list[dict], dict]:
    """[{lang, id, doc_id, prompt, gold, doc_hash, prompt_hash}] in language order, and the number of examples
    available per language; from --data-dir, else the Hub dataset (or its local copy under `hub_dir`)."""
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
            examples.append(dict(lang=lang, id=row["id"], doc_id=position[id(row)], prompt=prompt,
                                 spans=task.field_spans(row), gold=row["label"],
                                 doc_hash=doc_hash(task, row, lang), prompt_hash=prompt_hash(prompt)))
    return examples, available


def score_batch(model, task: Task, batch: list[dict], scoring: str, signature: str) -> list[dict]:
    """Predictions lines (eval.predictions: lm-eval's --log_samples fields, then ours) of one batch of examples."""
    prompts = [e["prompt"] for e in batch]
    base = lambda e: dict(doc_id=e.get("doc_id"), doc_hash=e.get("doc_hash"), prompt_hash=e.get("prompt_hash"),
                          target=e["gold"], id=e["id"], lang=e["lang"], target_label=task.choices[e["gold"]])
    records = []
    if scoring != "generate":
        # a model that centres its encoder states per language (fusion.centering) reads each example's language, and
        # where its own text lies in the prompt
        kw = ({"languages": [TextLanguage(e["lang"], e.get("spans", ())) for e in batch]}
              if getattr(model, "centering", None) is not None else {})
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


def sample_note(task: Task, where: str, data_dir, limit, available: dict, effective: dict) -> str:
    lo, hi = min(available.values()), max(available.values())
    avail = f"{lo}" if lo == hi else f"{lo}-{hi}"
    taken = f"a class-balanced sample (seed 0) of {limit} of {avail}" if limit and any(effective[l] < available[l] for l in available) \
        else f"all {avail}"
    return f"{taken} examples per language of the {task.name} test data in {where}" + \
        (" (a sample of the test set, not the full test set)" if data_dir or limit else "")



def evaluate_classification(model, examples: list[dict], available: dict, run: Run) -> dict:
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    task, languages, info, state, scoring = run.task, run.languages, run.info, run.state, run.scoring

    if scoring == "generate" and getattr(model, "generate", None) is None:
        raise ConfigError(f"{info['name']} cannot generate text: use --scoring loglik or constrained")
    signature = predictions.run_signature(model, task, scoring)
    pred_path = run.predictions_path
    done = {}
    if pred_path is not None:
        if state.is_main_process:
            run.out_dir.mkdir(parents=True, exist_ok=True)
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
              disable=not (run.progress and state.is_main_process)) as bar:
        with torch.inference_mode():
            new = score_all(model, task, mine, scoring, run.batch_size, signature, part, bar)
    new = gather_object(new)
    records = {**done, **{key(r): r for r in new}}
    ordered = [records[key(e)] for e in examples]  # every example exactly once, in data order

    per_lang = {lang: ([r["target"] for r in ordered if r["lang"] == lang],
                       [r["predicted"] for r in ordered if r["lang"] == lang]) for lang in languages}
    effective = {lang: len(per_lang[lang][0]) for lang in languages}
    results = run.results_file(
        scoring, dict(bootstrap=run.bootstrap, data_source=run.data_source),
        classification_metrics(per_lang, range(len(task.choices)), run.bootstrap, run.seed, task.groups),
        {lang: {"effective": effective[lang], "available": available[lang],
                "truncated": sum(bool(r.get("truncated")) for r in ordered if r["lang"] == lang)}
         for lang in languages},
        sample_note(task, run.data_where(task.local_test.get("*") or next(iter(task.local_test.values()))),
                    run.data_dir, run.limit, available, effective), resumed_examples=len(done))
    run.write(results, ordered)
    return results


