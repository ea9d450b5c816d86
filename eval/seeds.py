"""Fusion strategies compared over training seeds, on one task: each strategy's accuracy as mean and spread over its
seeds, and its paired gain over a baseline (the last layer; the encoder alone) on the identical test items
(eval.pairing.paired_over_seeds), for all languages, each language group and English.

    python -m eval seeds --results results --task sib200            # Markdown tables
    from eval.seeds import compare; compare(load_records("results"), "sib200")

Runs are the results files of fused bridges (and the encoder-alone probe, "probe") scored with log-likelihood in
one precision; a strategy's seeds are its runs with distinct seeds (their checkpoints' train_results.json). Bridges
trained on a variant of the English data (eval.records' `train_variant`) are a strategy of their own, e.g.
"last (sentences<=1)", and so are bridges of another training recipe ("transformer-softmax (entropy 0.05)") and runs
that centre the encoder's states per language with unlabeled target-language text ("last +centered"); each of those
is also compared with its plain strategy.
"""
import numpy as np
import pandas as pd

from fusion.ensemble import average_vote

from .pairing import item_key, paired_over_seeds, predictions_path
from .predictions import read_predictions
from tasks import TASKS

PROBE = "probe"


def runs_by_strategy(records: pd.DataFrame, task: str, precision: str | None = None) -> dict[str, pd.DataFrame]:
    """strategy (or "probe") -> its runs on `task` (one row per results file, sorted by seed)."""
    rows = records[(records["task"] == task) & (records["scoring"] == "loglik") & (records["metric"] == "acc,none")
                   & records["kind"].isin(["fused", "probe"])]
    if precision is not None:
        rows = rows[rows["precision"] == precision]
    runs = rows.drop_duplicates("results_file").copy()
    runs["strategy"] = np.where(runs["kind"] == "probe", PROBE, runs["strategy"])
    # a data variant, a training recipe and centering (unlabeled target-language text) each make a strategy of its own
    for col in ("train_variant", "recipe"):
        tag = runs[col].fillna("") if col in runs else ""
        runs["strategy"] = runs["strategy"].where(tag == "", runs["strategy"] + " (" + tag + ")")
    if "centering" in runs:
        tag = runs["centering"].fillna("")
        runs["strategy"] = runs["strategy"].where(tag == "", runs["strategy"] + " " + tag)
    out = {}
    for strategy, group in runs.groupby("strategy"):
        group = group.sort_values("seed").drop_duplicates("seed", keep="last")  # one run per seed
        out[str(strategy)] = group
    return out


def columns_of(task, scored=None) -> dict[str, tuple | None]:
    """Column name -> the languages it covers (None: every language). `scored`: the languages the runs scored; a
    column none of whose languages was scored is left out (Sinhala news lists English, which only its hub source
    has)."""
    cols = {"all": None, **{name: tuple(members) for name, members in task.groups.items()}}
    if task.english in task.languages:
        cols[task.english] = (task.english,)
    if scored is not None:
        cols = {c: langs for c, langs in cols.items() if langs is None or set(langs) & set(scored)}
    return cols


def scored_languages(runs: dict[str, pd.DataFrame], records: pd.DataFrame) -> set:
    """The languages any of these runs (runs_by_strategy) has a per-language result for."""
    files = {f for r in runs.values() for f in r["results_file"]}
    rows = records[records["results_file"].isin(files) & (records["level"] == "language")]
    return set(rows["lang"])


def accuracy_table(records: pd.DataFrame, task: str, precision: str | None = None) -> pd.DataFrame:
    """A row per strategy: seeds, and per column the mean accuracy over seeds and its standard deviation."""
    t = TASKS[task]
    acc = records[(records["metric"] == "acc,none")]
    by_strategy = runs_by_strategy(records, task, precision)
    cols = columns_of(t, scored_languages(by_strategy, records))
    rows = []
    for strategy, runs in by_strategy.items():
        row = dict(strategy=strategy, seeds=", ".join(str(int(s)) if pd.notna(s) else "?" for s in runs["seed"]))
        for col, langs in cols.items():
            lang = "average" if langs is None else f"group:{col}" if col in t.groups else col
            vals = [acc[(acc["results_file"] == f) & (acc["lang"] == lang)]["value"] for f in runs["results_file"]]
            vals = [float(v.iloc[0]) for v in vals if len(v)]
            row[col] = float(np.mean(vals)) if vals else np.nan
            row[f"{col} sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def in_column(records: list[dict], langs: tuple | None) -> list[dict]:
    """The records of a column's languages (columns_of; None: every language)."""
    return records if langs is None else [r for r in records if r.get("lang") in langs]


def own_baseline(strategy: str) -> str:
    """The run a variant is measured against besides the common baselines: "X +centered[ (text tokens)]" against X,
    "X (a recipe)" against X (a data variant such as "last (sentences<=1)" keeps only the common ones)."""
    if " +centered" in strategy:
        return strategy.partition(" +centered")[0]
    head, sep, tag = strategy.partition(" (")
    return head if sep and not tag.startswith("sentences") else strategy


def compare(records: pd.DataFrame, task: str, baselines=("last", PROBE), precision: str | None = None,
            n_boot: int = 1000) -> pd.DataFrame:
    """A row per (strategy, baseline, column): the seed-averaged paired difference, its interval over items
    (ci_low, ci_high) and over seeds and items (seeds_ci_low, seeds_ci_high), the items' p-value and the per-seed
    differences (accuracy points of [0, 1])."""
    t = TASKS[task]
    runs = runs_by_strategy(records, task, precision)
    preds = {s: [read_predictions(predictions_path(f))[0] for f in r["results_file"]] for s, r in runs.items()}
    cols = columns_of(t, scored_languages(runs, records))
    rows = []
    pairs = [(s, b) for b in baselines if b in preds for s in preds if s not in (b, PROBE)]
    pairs += [(s, own_baseline(s)) for s in preds
              if own_baseline(s) != s and own_baseline(s) in preds and own_baseline(s) not in baselines]
    for strategy, baseline in pairs:
        for col, langs in cols.items():
            keep = lambda recs, langs=langs: in_column(recs, langs)
            d = paired_over_seeds([keep(r) for r in preds[strategy]], [keep(r) for r in preds[baseline]],
                                  n_boot=n_boot)
            lo, hi = d["ci95"] or (np.nan, np.nan)
            seeds_lo, seeds_hi = d["ci95_seeds"] or (np.nan, np.nan)
            rows.append(dict(strategy=strategy, baseline=baseline, column=col, diff=d["diff"],
                             ci_low=lo, ci_high=hi, seeds_ci_low=seeds_lo, seeds_ci_high=seeds_hi,
                             p_value=d["p_value"], n=d["n"],
                             seeds=f"{d['seeds'][0]} vs {d['seeds'][1]}", per_seed=d["per_seed"]))
    return pd.DataFrame(rows)


def ensemble_records(runs: list[list[dict]]) -> list[dict]:
    """A seed ensemble's per-item records from its members' stored predictions: on the items every run scored, the
    mean of their choice probabilities decides (as fusion.ensemble.SeedEnsemble does when run). Items are matched by
    doc_hash (else language and id)."""
    by_hash = all(r.get("doc_hash") for records in runs for r in records)
    keyed = [{item_key(r, by_hash): r for r in records} for records in runs]
    out = []
    for k, first in keyed[0].items():
        members = [run.get(k) for run in keyed]
        if any(m is None or not m.get("probs") for m in members):
            continue
        _, pred = average_vote([m["probs"] for m in members])
        out.append(dict(id=first.get("id"), lang=first.get("lang"), doc_hash=first.get("doc_hash"),
                        gold=first.get("gold"), predicted=pred, correct=pred == first.get("gold")))
    return out


def ensembles(records: pd.DataFrame, task: str, precision: str | None = None, n_boot: int = 1000) -> pd.DataFrame:
    """A row per (strategy with 2+ seeds, column): the accuracy of its seed ensemble, computed from the seeds' stored
    predictions (ensemble_records), against the seeds' own mean accuracy on the same items: the paired difference
    and its interval over items (eval.pairing.paired_over_seeds)."""
    t = TASKS[task]
    runs = runs_by_strategy(records, task, precision)
    cols = columns_of(t, scored_languages(runs, records))
    members = {s: [read_predictions(predictions_path(f))[0] for f in r["results_file"]]
               for s, r in runs.items() if len(r) >= 2}
    ens = {s: ensemble_records(m) for s, m in members.items()}
    ens = {s: e for s, e in ens.items() if e}        # runs whose predictions keep no probabilities make none
    rows = []
    for strategy in ens:
        for col, langs in cols.items():
            keep = lambda recs, langs=langs: in_column(recs, langs)
            d = paired_over_seeds([keep(ens[strategy])], [keep(m) for m in members[strategy]], n_boot=n_boot)
            lo, hi = d["ci95"] or (np.nan, np.nan)
            row = dict(strategy=strategy, seeds=len(members[strategy]), column=col, diff=d["diff"], ci_low=lo,
                       ci_high=hi, ensemble=per_language_mean(keep(ens[strategy])), n=d["n"])
            if strategy != "last" and "last" in ens:   # the ensemble against the last layer's ensemble, same items
                v = paired_over_seeds([keep(ens[strategy])], [keep(ens["last"])], n_boot=n_boot)
                row.update(vs_last=v["diff"], vs_last_ci=tuple(v["ci95"] or (np.nan, np.nan)))
            rows.append(row)
    return pd.DataFrame(rows)


def per_language_mean(records: list[dict]) -> float:
    """Accuracy as the benchmark reports it: the mean over languages of each language's accuracy."""
    by_lang: dict = {}
    for r in records:
        by_lang.setdefault(r.get("lang"), []).append(float(bool(r["correct"])))
    return float(np.mean([np.mean(v) for v in by_lang.values()])) if by_lang else np.nan


def markdown(records: pd.DataFrame, task: str, precision: str | None = None) -> str:
    t = TASKS[task]
    acc = accuracy_table(records, task, precision)
    cols = list(columns_of(t, scored_languages(runs_by_strategy(records, task, precision), records)))
    pct = lambda v: "-" if pd.isna(v) else f"{100 * v:.1f}"
    lines = [f"Accuracy on {task}, mean over seeds (± standard deviation over seeds, in points):", "",
             "| strategy | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for _, r in acc.iterrows():
        cells = [pct(r[c]) + ("" if pd.isna(r[f"{c} sd"]) else f" ± {100 * r[f'{c} sd']:.1f}") for c in cols]
        lines.append(f"| {r['strategy']} | {r['seeds']} | " + " | ".join(cells) + " |")
    gains = compare(records, task, precision=precision)
    if not gains.empty:
        lines += ["", "Paired on identical items, each strategy averaged over its seeds per item (difference in "
                  "points; [items]: stratified paired bootstrap 95% interval over the test items, with the training "
                  "runs held fixed, and its sign-flip permutation p; [seeds + items]: the two-level bootstrap that "
                  "also redraws each strategy's seeds, the interval to read before calling a strategy better; per "
                  "seed in brackets):",
                  "", "| strategy - baseline | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        pts = lambda lo, hi: f"[{100 * lo:+.1f}, {100 * hi:+.1f}]"
        for (strategy, baseline), g in gains.groupby(["strategy", "baseline"], sort=False):
            cells = []
            for c in cols:
                r = g[g["column"] == c].iloc[0]
                seeds = ", ".join(f"{100 * x:+.1f}" for x in r["per_seed"])
                p = "p < 0.001" if r["p_value"] < 0.001 else f"p {r['p_value']:.2g}"  # 2,000 permutations
                cells.append(f"{100 * r['diff']:+.1f}, items {pts(r['ci_low'], r['ci_high'])} {p}, "
                             f"seeds + items {pts(r['seeds_ci_low'], r['seeds_ci_high'])} ({seeds})")
            lines.append(f"| {strategy} - {baseline} | {g['seeds'].iloc[0]} | " + " | ".join(cells) + " |")
    ens = ensembles(records, task, precision)
    if not ens.empty:
        lines += ["", "Seed ensembles: the seeds' choice probabilities averaged per item (computed from their stored "
                  "predictions, as `eval run --model ensemble:...` computes them), then (in brackets) the ensemble "
                  "minus the seeds' mean on the same items with its interval over items, and the ensemble minus the "
                  "last layer's ensemble:",
                  "", "| strategy | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for strategy, g in ens.groupby("strategy", sort=False):
            cells = []
            for c in cols:
                r = g[g["column"] == c]
                if r.empty:
                    cells.append("-")
                    continue
                r = r.iloc[0]
                cell = (f"{100 * r['ensemble']:.1f} ({100 * r['diff']:+.1f}, "
                        f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}])")
                if isinstance(r.get("vs_last_ci"), tuple):
                    lo, hi = r["vs_last_ci"]
                    cell += f"; vs last's ensemble {100 * r['vs_last']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"
                cells.append(cell)
            lines.append(f"| {strategy} | {g['seeds'].iloc[0]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
