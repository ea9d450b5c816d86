"""Cross-lingual alignment of a fused model's encoder layers on parallel sentences (task "ntrex_alignment").

For English sentence i and the N target-language sentences, retrieval@1 asks whether the translation of i is the
target sentence with the highest cosine similarity (mean-pooled states, `FusedModel.pooled_states`). Computed for
every hidden state 0..L (0 = embeddings) and for the fused representation, so one sees which layers carry
language-neutral meaning and what the fusion picks. The candidate pool is the N sentences evaluated, so scores
fall as N grows: compare runs with the same --limit.
"""
from pathlib import Path

import torch
import torch.nn.functional as F

from fusion.errors import ConfigError, DataError
from fusion.files import iter_jsonl
from tasks import AlignmentTask
from tasks.data import read_hub, renamed

from .run import Run


class AlignmentEvaluation:
    """How an alignment task (tasks.AlignmentTask) is evaluated: retrieval over its parallel sentences, from the
    encoder's pooled states; only a model with an encoder can be (`pooled_states`)."""

    def __init__(self, task: AlignmentTask):
        self.task = task

    def known_languages(self, data_dir) -> list[str]:
        return list(self.task.languages)

    def default_languages(self, data_dir) -> list[str]:
        return list(self.task.languages)

    def check_model(self, spec):
        """Before loading: a model that reads text without the encoder (the plain LLM) cannot be evaluated."""
        if not spec.has_encoder:
            raise ConfigError(no_encoder_message(self.task, spec))

    def load(self, languages, data_dir, limit, hub_dir=None):
        """Read and check the parallel sentences before the model loads (a bad file fails first)."""
        self.rows = load_parallel(self.task, data_dir, languages, hub_dir)

    def evaluate(self, model, run: Run) -> dict:
        return evaluate_alignment(model, self.rows, run)


def no_encoder_message(task, what) -> str:
    return (f"task {task.name} compares the encoder's layers and needs a fused model (a checkpoint directory or a "
            f"preset), not {str(what)!r}, which has no encoder")


def parallel_rows(task: AlignmentTask, data_dir, hub_dir=None) -> tuple[list[tuple[str, dict]], str]:
    """([(where, row)], the source's name): the lines of the parallel file under --data-dir, else the rows of the
    task's Hub dataset (or of its local copy under `hub_dir`) with their columns renamed to our language codes and
    ids "<task>-<index>" where the dataset has none."""
    if data_dir is not None:
        path = Path(data_dir) / task.local_file
        return [(f"{path}:{n}", row) for n, row in iter_jsonl(path)], str(path)
    ds, where = read_hub(task.hub, None, task.name, hub_dir)
    return [(f"{where}[{i}]", {"id": f"{task.name}-{i}", **renamed(dict(raw), task.hub)})
            for i, raw in enumerate(ds)], where


def load_parallel(task: AlignmentTask, data_dir, languages: list[str], hub_dir=None) -> list[dict]:
    """Rows {id, <source>, <lang>...} of the parallel sentences (parallel_rows), checked: every needed field a
    non-empty string, unique ids (and, for a file: UTF-8, JSON objects)."""
    need = ["id", task.source, *languages]
    rows, seen = [], set()
    found, name = parallel_rows(task, data_dir, hub_dir)
    for where, row in found:
        missing = [f for f in need if f not in row]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)} (task {task.name} needs "
                            f"{', '.join(need)})")
        for f in need[1:]:
            if not isinstance(row[f], str) or not row[f].strip():
                raise DataError(f"{where}: field {f!r} is empty or not a string")
        if row["id"] in seen:
            raise DataError(f"{where}: id {row['id']!r} occurs twice; ids must be unique")
        seen.add(row["id"])
        rows.append(row)
    if len(rows) < 2:
        raise DataError(f"{name} has {len(rows)} sentence(s); retrieval needs at least 2")
    return rows


def retrieval_at_1(queries: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """queries, candidates [N, D] (row i of each is a translation pair) -> index of the nearest candidate per query
    by cosine similarity [N]."""
    sim = F.normalize(queries.float(), dim=-1) @ F.normalize(candidates.float(), dim=-1).T   # [N, N]
    return sim.argmax(1)


def layer_mix(weights: torch.Tensor, fused_layers: list[int]) -> dict:
    """weights [N, L'] (each text's fusion weights averaged over its tokens) -> {"fusion_weight,layer_<i>": the mean
    weight on hidden state i}: what the fusion picks in one language."""
    return {f"fusion_weight,layer_{i}": w for i, w in zip(fused_layers, weights.float().mean(0).tolist())}


def alignment_scores(pooled: dict, fused_layers: list[int], source: str) -> tuple[dict, dict]:
    """pooled: {lang: {"layers": [L+1, N, D], "fused": [N, D], "weights": [N, L']}} incl. the source language under
    key "source"; fused_layers: the hidden-state index of each of the L' fused layers; source: its language code.
    Returns ({lang: {"retrieval@1,layer_<i>": acc, ..., "retrieval@1,fused": acc,
                     "fusion_weight,layer_<i>": the fusion's mean weight on layer i in that language, "n": N},
              "average": the mean of those, source: {"fusion_weight,layer_<i>": ..., "n": N} (its mix alone)},
             {lang: {"layer_<i>"|"fused": [retrieved index per query]}})."""
    src = pooled.pop("source")
    N = src["fused"].shape[0]
    gold = torch.arange(N)
    results, retrieved = {}, {}
    for lang, states in pooled.items():
        row, picks = {}, {}
        reps = {f"layer_{i}": (src["layers"][i], states["layers"][i]) for i in range(src["layers"].shape[0])}
        reps["fused"] = (src["fused"], states["fused"])
        for key, (q, c) in reps.items():
            pred = retrieval_at_1(q, c).cpu()
            row[f"retrieval@1,{key}"] = float((pred == gold).float().mean())
            picks[key] = pred.tolist()
        row.update(layer_mix(states["weights"], fused_layers))
        row["n"] = N
        results[lang], retrieved[lang] = row, picks
    keys = [k for k in next(iter(results.values())) if k != "n"]
    results["average"] = {k: sum(r[k] for r in results.values()) / len(results) for k in keys}
    results["average"]["n"] = N
    results[source] = {**layer_mix(src["weights"], fused_layers), "n": N}   # the mix on the English side, to compare
    return results, retrieved


def evaluate_alignment(model, rows: list[dict], run: Run) -> dict:
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    task, languages, info, state, limit = run.task, run.languages, run.info, run.state, run.limit
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
                               disable=not (run.progress and state.is_main_process)):
            if mine:
                p = model.pooled_states([rows[i][lang] for i in mine], batch_size=run.batch_size)
                local[name] = (p["layers"].cpu(), p["fused"].cpu(), p["weights"].cpu())  # [L+1, n, D], [n, D], [n, L']
    pieces = [(idx, loc) for idx, loc in gather_object([(mine, local)]) if idx]
    inverse = torch.tensor([i for idx, _ in pieces for i in idx]).argsort()        # back to row order
    pooled = {name: {"layers": torch.cat([loc[name][0] for _, loc in pieces], 1)[:, inverse],
                     "fused": torch.cat([loc[name][1] for _, loc in pieces], 0)[inverse],
                     "weights": torch.cat([loc[name][2] for _, loc in pieces], 0)[inverse]} for name, _ in sides}
    scores, retrieved = alignment_scores(pooled, model.config.fused_layers(), task.source)
    n = len(rows)
    results = run.results_file(
        "retrieval@1: cosine of mean-pooled encoder states, English -> X",
        dict(bootstrap=0, data_source=run.data_source,
             layers=f"hidden states 0..{pooled[languages[0]]['layers'].shape[0] - 1} (0 = embeddings)"),
        scores, {lang: {"effective": n, "available": available} for lang in languages},
        (f"{'first ' + str(n) if n < available else 'all ' + str(n)} of {available} parallel sentences in "
         f"{run.data_where(task.local_file)}; each English sentence retrieves among the {n} target sentences "
         f"(fewer candidates make retrieval easier)"))
    lines = [dict(id=row["id"], lang=lang, retrieved={k: rows[j]["id"] for k, picks in retrieved[lang].items()
                                                      for j in [picks[i]]})
             for lang in languages for i, row in enumerate(rows)]
    run.write(results, lines)
    return results
