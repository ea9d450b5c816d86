"""Paired comparison of two runs on identical test items: the accuracy difference with a paired-bootstrap 95%
interval and an exact McNemar p-value, per language and per language group.

Items are paired by `doc_hash` (eval.trace) where both runs recorded it, else by (language, id). Only items scored
by both runs count, so a difference is never an artefact of different samples. Predictions lines of either format
pair (eval.predictions: lm-eval's `acc`, or `correct` in lines written before).

    from eval.pairing import paired_difference
    from eval.predictions import read_predictions
    paired_difference(read_predictions("results/a/xnli.predictions.jsonl")[0],
                      read_predictions("results/b/xnli.predictions.jsonl")[0])
    # {"diff": 0.031, "ci95": [-0.012, 0.074], "n": 900, "p_value": 0.17, "languages": [...]}
"""
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from tasks import TASKS

from .predictions import correct, key, read_predictions, scored


def item_key(record: dict, by_hash: bool) -> tuple:
    """An item's key across runs: its doc_hash (eval.trace), else its key within a run (language, id)."""
    return ("doc", record["doc_hash"]) if by_hash else key(record)


def pair(records_a: list[dict], records_b: list[dict]) -> list[tuple[dict, dict]]:
    """(a, b) for every item both lists scored, in a's order; by doc_hash when every record has one."""
    for name, records in (("records_a", records_a), ("records_b", records_b)):
        missing = sum(not scored(r) for r in records)
        if missing:
            raise ValueError(f"{name}: {missing} record(s) have no 'acc' (or older 'correct') field; pair "
                             f"classification predictions (eval run writes them)")
    by_hash = all(r.get("doc_hash") for r in [*records_a, *records_b])
    b = {item_key(r, by_hash): r for r in records_b}
    return [(r, b[item_key(r, by_hash)]) for r in records_a if item_key(r, by_hash) in b]


def mcnemar_p(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value from the discordant pairs (binomial test with p = 1/2)."""
    from scipy.stats import binomtest
    n = a_only + b_only
    return 1.0 if n == 0 else float(binomtest(a_only, n, 0.5).pvalue)


def stratified_mean_ci(diffs: dict, n_boot: int = 1000, seed: int = 0) -> tuple[float, list | None]:
    """{lang: per-item differences} -> (the unweighted mean of the per-language means, its stratified paired
    bootstrap 95% percentile interval: each replicate resamples every language's items separately)."""
    diff = float(np.mean([d.mean() for d in diffs.values()]))
    if n_boot <= 0:
        return diff, None
    reps = np.zeros(n_boot)
    for lang, d in diffs.items():
        rng = np.random.default_rng([seed, zlib.crc32(lang.encode())])
        reps += d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(1)
    reps /= len(diffs)
    return diff, [float(x) for x in np.percentile(reps, [2.5, 97.5])]


def paired_difference(records_a: list[dict], records_b: list[dict], n_boot: int = 1000, seed: int = 0) -> dict:
    """accuracy(a) - accuracy(b) on the items both scored -> {"diff", "ci95", "n", "p_value", "languages"}.

    With several languages the difference is the unweighted mean of the per-language differences (as the results'
    averages are), and each bootstrap replicate resamples the items of every language separately (stratified
    paired bootstrap, percentile interval). p_value: exact McNemar test on the discordant pairs. Raises
    ValueError when no item is shared."""
    pairs = pair(records_a, records_b)
    if not pairs:
        raise ValueError("the two runs share no test item (compared by doc_hash, else by language and id)")
    by_lang: dict = {}
    for a, b in pairs:
        by_lang.setdefault(str(a.get("lang")), []).append(int(correct(a)) - int(correct(b)))
    diffs = {lang: np.asarray(d, dtype=float) for lang, d in by_lang.items()}
    diff, ci = stratified_mean_ci(diffs, n_boot, seed)
    all_d = np.concatenate(list(diffs.values()))
    return {"diff": diff, "ci95": ci, "n": len(pairs), "p_value": mcnemar_p(int((all_d > 0).sum()),
                                                                            int((all_d < 0).sum())),
            "languages": list(diffs)}


def paired_over_seeds(runs_a: list[list[dict]], runs_b: list[list[dict]], n_boot: int = 1000, n_perm: int = 2000,
                      seed: int = 0) -> dict:
    """Strategy a vs strategy b, each trained with several seeds (a list of runs' records per strategy), on the
    items every run scored. Per item: a's accuracy averaged over its seeds minus b's; the difference is the mean of
    the per-language means of that, with a stratified paired bootstrap 95% interval over items and a sign-flip
    permutation p-value (two-sided; per item, a and b swap with probability 1/2). Both hold the training runs fixed:
    they say which sentences were drawn, not which seeds.

    `ci95_seeds`: the two-level (hierarchical) bootstrap interval that treats the training seeds as a sample too:
    each replicate draws each strategy's runs with replacement, then the items (stratified by language). It is the
    interval to read before calling one strategy better; with 3 seeds a side it is wide when the seeds disagree.
    `per_seed`: the plain paired difference of the i-th run of a against the i-th run of b, or against b's only run
    (a probe is deterministic: one run serves all)."""
    if not runs_a or not runs_b:
        raise ValueError("each strategy needs at least one run")
    runs = [*runs_a, *runs_b]
    by_hash = all(r.get("doc_hash") for records in runs for r in records)
    keyed = [{item_key(r, by_hash): r for r in records} for records in runs]
    shared = [k for k in keyed[0] if all(k in run for run in keyed[1:])]
    if not shared:
        raise ValueError("the runs share no test item (compared by doc_hash, else by language and id)")
    right = np.array([[float(correct(run[k])) for k in shared] for run in keyed])            # [runs, items]
    a_runs, b_runs = right[:len(runs_a)], right[len(runs_a):]                                # [n_a, N], [n_b, N]
    langs = np.array([str(keyed[0][k].get("lang")) for k in shared])                          # [N]
    index = {lang: np.flatnonzero(langs == lang) for lang in dict.fromkeys(langs)}            # lang -> item columns
    per_item = a_runs.mean(0) - b_runs.mean(0)                                                # [N]
    diffs = {lang: per_item[cols] for lang, cols in index.items()}
    diff, ci = stratified_mean_ci(diffs, n_boot, seed)
    rng = np.random.default_rng(seed)
    null = np.zeros(n_perm)
    for d in diffs.values():
        null += (d[None] * rng.choice([-1.0, 1.0], size=(n_perm, len(d)))).mean(1)
    null /= len(diffs)
    p = float((1 + (np.abs(null) >= abs(diff) - 1e-12).sum()) / (1 + n_perm))
    partners = runs_b if len(runs_b) > 1 else runs_b * len(runs_a)  # one baseline run (e.g. a probe) serves all
    per_seed = [paired_difference(ra, rb, n_boot=0)["diff"] for ra, rb in zip(runs_a, partners)]
    return {"diff": diff, "ci95": ci, "ci95_seeds": seed_and_item_ci(a_runs, b_runs, index, n_boot, seed),
            "n": len(shared), "p_value": p, "per_seed": per_seed, "seeds": [len(runs_a), len(runs_b)],
            "languages": list(diffs)}


def seed_and_item_ci(a_runs: np.ndarray, b_runs: np.ndarray, index: dict, n_boot: int = 1000,
                     seed: int = 0) -> list | None:
    """The hierarchical bootstrap 95% percentile interval of mean_lang mean_items (mean_seeds a - mean_seeds b).
    a_runs [n_a, N] and b_runs [n_b, N]: per run and item, 1 = correct; index: language -> its item columns. Each
    replicate draws n_a of a's runs and n_b of b's with replacement, then every language's items with replacement."""
    if n_boot <= 0:
        return None
    rng = np.random.default_rng([seed, 1])
    pick_a = rng.integers(0, len(a_runs), size=(n_boot, len(a_runs)))                          # [R, n_a]
    pick_b = rng.integers(0, len(b_runs), size=(n_boot, len(b_runs)))                          # [R, n_b]
    per_item = a_runs[pick_a].mean(1) - b_runs[pick_b].mean(1)                                 # [R, N]
    reps = np.zeros(n_boot)
    for cols in index.values():
        items = cols[rng.integers(0, len(cols), size=(n_boot, len(cols)))]                     # [R, n_lang]
        reps += np.take_along_axis(per_item, items, axis=1).mean(1)
    reps /= len(index)
    return [float(x) for x in np.percentile(reps, [2.5, 97.5])]


GAIN_COLUMNS = ["model", "model_group", "checkpoint", "strategy", "seed", "precision", "scoring", "task", "lang",
                "level", "baseline", "diff", "ci_low", "ci_high", "n", "p_value"]


def predictions_path(results_file) -> Path:
    p = Path(results_file)
    return p.with_name(p.name[:-len(".json")] + ".predictions.jsonl")


def _runs(records: pd.DataFrame) -> pd.DataFrame:
    cols = ["model", "model_group", "checkpoint", "kind", "strategy", "seed", "precision", "scoring", "task",
            "results_file"]
    return records[cols].drop_duplicates("results_file").reset_index(drop=True)


def _baseline_for(run, baselines: pd.DataFrame):
    """The baseline run for the same task, precision and scoring, and the same seed (a run of unknown seed pairs
    with a baseline of unknown seed); else the only baseline there is."""
    same = baselines[(baselines["task"] == run["task"]) & (baselines["precision"] == run["precision"])
                     & (baselines["scoring"] == run["scoring"])]
    seeded = same[same["seed"].isna()] if pd.isna(run["seed"]) else same[same["seed"] == run["seed"]]
    pick = seeded if len(seeded) == 1 else same
    return pick.iloc[0] if len(pick) == 1 else None


def gains_over_baseline(records: pd.DataFrame, baseline: str = "last", n_boot: int = 1000,
                        seed: int = 0) -> pd.DataFrame:
    """For every fused run whose strategy is not `baseline`: its paired accuracy gain over the `baseline`-strategy
    run of the same task (and seed), per language, per language group and on average (GAIN_COLUMNS; diff in
    accuracy points of [0, 1]). Runs without a predictions file or without a unique baseline are left out."""
    if records.empty:
        return pd.DataFrame(columns=GAIN_COLUMNS)
    runs = _runs(records)
    fused = runs[runs["kind"] == "fused"]
    baselines = fused[fused["strategy"] == baseline]
    rows = []
    for _, run in fused[fused["strategy"] != baseline].iterrows():
        base = _baseline_for(run, baselines)
        a, b = predictions_path(run["results_file"]), None if base is None else predictions_path(base["results_file"])
        if b is None or not a.is_file() or not b.is_file():
            continue
        ra, rb = read_predictions(a)[0], read_predictions(b)[0]
        if not ra or not all(map(scored, ra + rb)):
            continue  # alignment predictions: nothing to pair
        task = TASKS.get(run["task"])
        langs = list(dict.fromkeys(r.get("lang") for r in ra))
        parts = [(lang, "language", [lang]) for lang in langs]
        parts += [(f"group:{g}", "group", [x for x in members if x in langs])
                  for g, members in (task.groups if task else {}).items()]
        parts.append(("average", "average", langs))
        for lang, level, members in parts:
            if not members:
                continue
            keep = set(members)
            try:
                d = paired_difference([r for r in ra if r.get("lang") in keep],
                                      [r for r in rb if r.get("lang") in keep], n_boot=n_boot, seed=seed)
            except ValueError:
                continue
            lo, hi = d["ci95"] or (np.nan, np.nan)
            rows.append(dict({k: run[k] for k in ("model", "model_group", "checkpoint", "strategy", "seed", "precision",
                                                  "scoring", "task")},
                             lang=lang, level=level, baseline=base["checkpoint"], diff=d["diff"], ci_low=lo,
                             ci_high=hi, n=d["n"], p_value=d["p_value"]))
    return pd.DataFrame(rows, columns=GAIN_COLUMNS)
