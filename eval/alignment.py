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

from fusion.errors import DataError

from tasks.data import iter_jsonl
from tasks import AlignmentTask


def load_parallel(task: AlignmentTask, data_dir, languages: list[str]) -> list[dict]:
    """Rows {id, <source>, <lang>...} of the parallel file, checked: UTF-8, JSON objects, every needed field a
    non-empty string, unique ids."""
    if data_dir is None:
        raise DataError(f"task {task.name} reads local parallel sentences: pass --data-dir (a folder holding "
                        f"{task.local_file})")
    path = Path(data_dir) / task.local_file
    need = ["id", task.source, *languages]
    rows, seen = [], set()
    for n, row in iter_jsonl(path):
        missing = [f for f in need if f not in row]
        if missing:
            raise DataError(f"{path}:{n}: missing field(s) {', '.join(missing)} (task {task.name} needs "
                            f"{', '.join(need)})")
        for f in need[1:]:
            if not isinstance(row[f], str) or not row[f].strip():
                raise DataError(f"{path}:{n}: field {f!r} is empty or not a string")
        if row["id"] in seen:
            raise DataError(f"{path}:{n}: id {row['id']!r} occurs twice; ids must be unique")
        seen.add(row["id"])
        rows.append(row)
    if len(rows) < 2:
        raise DataError(f"{path} has {len(rows)} sentence(s); retrieval needs at least 2")
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
