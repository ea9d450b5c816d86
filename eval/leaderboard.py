"""The leaderboard: views of the tidy results table (eval.records) per benchmark, and its exports.

    records = load_records("results")                  # one row per (run, task, language, metric)
    benchmarks(records)                                # ["amazon_reviews", "ntrex_alignment", ...]
    benchmark_table(records, "xnli")                   # a row per run: average, groups, languages, n
    write_leaderboard("results", "results/leaderboard")   # .csv (the tidy table) and .md (a table per benchmark)

Filtering and pivoting happen here; the app only displays what these functions return."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .records import load_records, mean_over_seeds
from tasks import ALIGNMENT_TASKS, TASKS

METRICS = ("acc,none", "retrieval@1,fused")  # a benchmark's headline metric: the first of these it has
RUN_COLUMNS = ["model", "checkpoint", "kind", "strategy", "seed", "precision"]


def benchmarks(records: pd.DataFrame) -> list[str]:
    return sorted(records["task"].unique()) if not records.empty else []


def headline_metric(records: pd.DataFrame, task: str) -> str | None:
    have = set(records.loc[records["task"] == task, "metric"])
    return next((m for m in METRICS if m in have), None)


def languages(task: str, present) -> list[str]:
    """The task's languages in its own order (those present), then any others present, sorted."""
    t = TASKS.get(task) or ALIGNMENT_TASKS.get(task)
    known = [lang for lang in (t.languages if t else ()) if lang in set(present)]
    return known + sorted(set(present) - set(known))


def chance(task: str) -> float | None:
    """Accuracy of a uniform guess (None for a task without fixed choices)."""
    t = TASKS.get(task)
    return 1 / len(t.choices) if t else None


def select(records: pd.DataFrame, task: str, seeds: str = "checkpoints", metric: str | None = None) -> pd.DataFrame:
    """The task's rows of its headline metric (or `metric`); seeds="mean" averages each model group over its
    seeds (eval.records.mean_over_seeds)."""
    metric = metric or headline_metric(records, task)
    rows = records[(records["task"] == task) & (records["metric"] == metric)]
    if seeds == "mean":
        rows = mean_over_seeds(rows)
    elif seeds != "checkpoints":
        raise ValueError(f"seeds must be 'checkpoints' or 'mean', got {seeds!r}")
    return rows.reset_index(drop=True)


def column_order(task: str, rows: pd.DataFrame) -> list[str]:
    """average, the group averages, then the languages."""
    groups = sorted(set(rows.loc[rows["level"] == "group", "lang"]))
    langs = languages(task, rows.loc[rows["level"] == "language", "lang"].unique())
    return [c for c in ["average", *groups, *langs] if c in set(rows["lang"])]


def pivot(rows: pd.DataFrame, task: str, field: str = "value") -> pd.DataFrame:
    """A row per run, a column per language / group / average holding `field` (value, ci_low, ci_high, n...)."""
    wide = rows.groupby([*RUN_COLUMNS, "lang"], sort=False)[field].first().unstack("lang")
    return wide.reindex(columns=column_order(task, rows))


def fmt(value, lo, hi, scale: float = 100) -> str:
    """62.2 ±4.4 (half the width of the interval, in points); the value alone when there is no interval."""
    if pd.isna(value):
        return ""
    if pd.isna(lo) or pd.isna(hi):
        return f"{scale * value:.1f}"
    return f"{scale * value:.1f} ±{scale * (hi - lo) / 2:.1f}"


def _n_label(ns) -> str:
    ns = sorted({int(n) for n in ns if not pd.isna(n)})
    return "" if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"


def benchmark_table(records: pd.DataFrame, task: str, seeds: str = "checkpoints",
                    formatted: bool = True) -> pd.DataFrame:
    """A row per run (model, checkpoint, kind, strategy, seed, precision), best average first: "average", the
    group averages ("group:low-resource"), each language, and "n" (test examples per language, a range when they
    differ). formatted: "62.2 ±4.4" strings in %; else the values in %."""
    rows = select(records, task, seeds)
    if rows.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    rows = rows.assign(seed=seed_labels(rows))
    value, lo, hi = (pivot(rows, task, f) for f in ("value", "ci_low", "ci_high"))
    ns = rows[rows["level"] == "language"].groupby(RUN_COLUMNS, sort=False)["n"].agg(_n_label)
    if formatted:
        shown = pd.DataFrame(np.vectorize(fmt, otypes=[object])(value, lo, hi), index=value.index,
                             columns=value.columns)
    else:
        shown = (100 * value).round(1)
    shown["n"] = ns.reindex(shown.index).fillna("")
    order = value.index
    if "average" in value:  # best first; a stable sort keeps tied runs in the pivot's order between regenerations
        order = value["average"].sort_values(ascending=False, na_position="last", kind="stable").index
    return shown.loc[order].reset_index().rename_axis(columns=None)


def seed_labels(rows: pd.DataFrame) -> pd.Series:
    """The seed as shown: the number, "" when unknown, "mean of k" for a mean over seeds."""
    if "n_seeds" in rows:
        return rows["n_seeds"].map(lambda k: f"mean of {k}")
    return rows["seed"].map(lambda s: "" if pd.isna(s) else str(int(s)))


def reference_lines(records: pd.DataFrame, task: str) -> dict:
    """{"chance": accuracy of a guess, "<plain run>": {lang: value}} for the charts."""
    rows = select(records, task)
    out = {"chance": chance(task)} if headline_metric(records, task) == "acc,none" else {}
    for model, g in rows[rows["kind"] == "plain"].groupby("model"):
        out[model] = dict(zip(g["lang"], g["value"]))
    return out


def markdown(records: pd.DataFrame) -> str:
    """A section per benchmark: its table (accuracy in % ± half the 95% interval) and what the numbers are."""
    if records.empty:
        return "(no results)\n"
    parts = []
    for task in benchmarks(records):
        rows = select(records, task)
        metric = headline_metric(records, task)
        notes = sorted(set(rows["sample_note"]))
        parts.append(f"## {task} ({metric}, %)\n\n{benchmark_table(records, task).to_markdown(index=False)}\n\n"
                     + "".join(f"- {n}\n" for n in notes))
    return "\n".join(parts)


def write_leaderboard(results_dir, out_prefix) -> pd.DataFrame:
    """Writes <out_prefix>.csv (the tidy table of eval.records) and <out_prefix>.md (a table per benchmark);
    returns the tidy table."""
    records = load_records(results_dir)
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    records.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(markdown(records), encoding="utf-8")
    return records
