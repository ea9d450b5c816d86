"""The leaderboard: views of the tidy results table (eval.records) per benchmark, and its exports.

    records = load_records("results")                  # one row per (run, task, language, metric)
    benchmarks(records)                                # ["amazon_reviews", "ntrex_alignment", ...]
    benchmark_table(records, "xnli")                   # a row per run: average, groups, languages, n
    benchmark_table(records, "sib200", view="si-ta-bn", partial="hide")   # one language group, full samples only
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


def partial_runs(records: pd.DataFrame, task: str) -> dict[str, str]:
    """The task's partial runs (`--limit`): results file -> its n per language ("60", "60-100"), for each run
    scored on fewer examples of some language than the largest sample of that language among the task's runs."""
    rows = records[(records["task"] == task) & (records["level"] == "language")]
    if rows.empty:
        return {}
    largest = rows.groupby("lang")["n"].transform("max")
    files = set(rows.loc[rows["n"] < largest, "results_file"])
    return {f: _n_label(rows.loc[rows["results_file"] == f, "n"]) for f in sorted(files)}


PARTIAL = ("keep", "hide", "label")   # partial runs: as they are, left out, or kept with their n in the name


def without_partial_runs(records: pd.DataFrame, task: str) -> pd.DataFrame:
    """`records` less the task's partial runs (partial_runs)."""
    return records[~records["results_file"].isin(set(partial_runs(records, task)))]


def select(records: pd.DataFrame, task: str, seeds: str = "checkpoints", metric: str | None = None,
           partial: str = "keep") -> pd.DataFrame:
    """The task's rows of its headline metric (or `metric`); seeds="mean" averages each model group over its
    seeds (eval.records.mean_over_seeds). partial (PARTIAL): what happens to partial runs (partial_runs): "keep"
    them as they are, "hide" them, or "label" them with their n ("plain-pocket (partial, n = 60)"), apart from the
    full-sample runs of the same model."""
    if partial not in PARTIAL:
        raise ValueError(f"partial must be one of {PARTIAL}, got {partial!r}")
    metric = metric or headline_metric(records, task)
    rows = records[(records["task"] == task) & (records["metric"] == metric)]
    if partial != "keep":
        ns = partial_runs(records, task)
        rows = rows[~rows["results_file"].isin(set(ns))] if partial == "hide" else rows.assign(
            **{c: [f"{m} (partial, n = {ns[f]})" if f in ns else m for m, f in zip(rows[c], rows["results_file"])]
               for c in ("model", "model_group")})
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


def language_views(task: str) -> dict[str, tuple | None]:
    """The ways to look at a benchmark's languages: each of the task's language groups (tasks.Task.groups),
    smallest first, then "all" (None: every language)."""
    t = TASKS.get(task)
    groups = sorted((t.groups if t else {}).items(), key=lambda kv: len(kv[1]))
    return {**{name: tuple(members) for name, members in groups}, "all": None}


def view_columns(task: str, rows: pd.DataFrame, view: str = "all") -> list[str]:
    """The columns of `view` (language_views): all of column_order for "all", else the group's average and its
    languages."""
    columns = column_order(task, rows)
    members = language_views(task).get(view)
    if members is None:
        return columns
    return [c for c in columns if c == f"group:{view}" or c in members]


def pivot(rows: pd.DataFrame, task: str, field: str = "value", view: str = "all") -> pd.DataFrame:
    """A row per run, a column per language / group / average of `view` holding `field` (value, ci_low, ci_high,
    n...)."""
    wide = rows.groupby([*RUN_COLUMNS, "lang"], sort=False)[field].first().unstack("lang")
    return wide.reindex(columns=view_columns(task, rows, view))


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


def benchmark_table(records: pd.DataFrame, task: str, seeds: str = "checkpoints", formatted: bool = True,
                    view: str = "all", partial: str = "keep") -> pd.DataFrame:
    """A row per run (model, checkpoint, kind, strategy, seed, precision), best first: "average", the group
    averages ("group:low-resource"), each language, and "n" (test examples per language, a range when they
    differ). formatted: "62.2 ±4.4" strings in %; else the values in %. view (language_views): a language group's
    average and languages only, best first by the group's average. partial: as in select."""
    rows = select(records, task, seeds, partial=partial)
    if rows.empty:
        return pd.DataFrame(columns=RUN_COLUMNS)
    rows = rows.assign(seed=seed_labels(rows))
    value, lo, hi = (pivot(rows, task, f, view) for f in ("value", "ci_low", "ci_high"))
    ns = rows[rows["level"] == "language"].groupby(RUN_COLUMNS, sort=False)["n"].agg(_n_label)
    if formatted:
        shown = pd.DataFrame(np.vectorize(fmt, otypes=[object])(value, lo, hi), index=value.index,
                             columns=value.columns)
    else:
        shown = (100 * value).round(1)
    shown["n"] = ns.reindex(shown.index).fillna("")
    order = value.index
    best = "average" if view == "all" else f"group:{view}"
    if best in value:  # best first; a stable sort keeps tied runs in the pivot's order between regenerations
        order = value[best].sort_values(ascending=False, na_position="last", kind="stable").index
    return shown.loc[order].reset_index().rename_axis(columns=None)


def seed_labels(rows: pd.DataFrame) -> pd.Series:
    """The seed as shown: the number, "" when unknown, "mean of k" for a mean over seeds."""
    if "n_seeds" in rows:
        return rows["n_seeds"].map(lambda k: f"mean of {k}")
    return rows["seed"].map(lambda s: "" if pd.isna(s) else str(int(s)))


def reference_lines(records: pd.DataFrame, task: str, partial: str = "keep") -> dict:
    """{"chance": accuracy of a guess, "<plain run>": {lang: value}} for the charts (partial: as in select)."""
    rows = select(records, task, partial=partial)
    out = {"chance": chance(task)} if headline_metric(records, task) == "acc,none" else {}
    for model, g in rows[rows["kind"] == "plain"].groupby("model"):
        out[model] = dict(zip(g["lang"], g["value"]))
    return out


def english_only(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the runs of bridges that learned from English alone, the runs that also read unlabeled target-language text
    (per-language centering, fusion.centering)): the board never mixes the two."""
    if records.empty or "target_text" not in records:
        return records, records.iloc[0:0]
    mask = records["target_text"].fillna(False).astype(bool)
    return records[~mask], records[mask]


def markdown(records: pd.DataFrame) -> str:
    """A section per benchmark: its table (accuracy in % ± half the 95% interval) and what the numbers are."""
    if records.empty:
        return "(no results)\n"
    parts = []
    english, centred = english_only(records)
    boards = ((english, ""), (centred, ": runs that also read unlabeled target-language text (per-language centering)"))
    for board, title in boards:                 # never mixed: English-only runs, then those using target text
        for task in benchmarks(board):
            rows = select(board, task)
            metric = headline_metric(board, task)
            notes = sorted(set(rows["sample_note"]))
            parts.append(f"## {task}{title} ({metric}, %)\n\n{benchmark_table(board, task).to_markdown(index=False)}"
                         "\n\n" + "".join(f"- {n}\n" for n in notes))
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
