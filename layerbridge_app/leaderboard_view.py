"""The Leaderboard tab's content for one benchmark: a table, two matplotlib charts, model cards, downloads and a
note on what the numbers are. Everything is computed by eval.records / eval.leaderboard / eval.pairing; this module
only draws and formats it. Text from results files is escaped before it goes into HTML."""
import hashlib
import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eval.leaderboard import benchmark_table, benchmarks, column_order, headline_metric, reference_lines, select
from eval.pairing import gains_over_baseline
from eval.records import load_records, mean_over_seeds, model_cards

SEEDS = [("each checkpoint", "checkpoints"), ("mean over seeds", "mean")]
COLORS = ["#2563eb", "#f97316", "#16a34a", "#a855f7", "#dc2626", "#0891b2", "#ca8a04", "#db2777"]
BASELINE = "last"


def _axes(n_categories: int, n_series: int, title: str, ylabel: str):
    fig = Figure(figsize=(min(22, max(7, 1.2 + 0.22 * n_categories * max(n_series, 2))), 4.2), dpi=100,
                 layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig, ax


def _label(col: str) -> str:
    return col.split(":", 1)[1] if col.startswith("group:") else col


def _grouped_bars(ax, series: dict, categories: list[str]) -> float:
    """series: {name: (values, lows, highs)} in %, one value per category; returns the width of one group."""
    x = np.arange(len(categories))
    width = 0.8 / max(len(series), 1)
    for i, (name, (v, lo, hi)) in enumerate(series.items()):
        v, lo, hi = (np.asarray(a, dtype=float) for a in (v, lo, hi))
        err = np.vstack([np.where(np.isnan(lo), 0, v - lo), np.where(np.isnan(hi), 0, hi - v)])
        ax.bar(x - 0.4 + width * (i + 0.5), v, width, yerr=err, capsize=2, label=name,
               color=COLORS[i % len(COLORS)], error_kw={"elinewidth": 0.8, "alpha": 0.8})
    ax.set_xticks(x, [_label(c) for c in categories], rotation=45 if len(categories) > 8 else 0, ha="right"
                  if len(categories) > 8 else "center", fontsize=9)
    for i, c in enumerate(categories):   # averages are set apart from the languages
        if c == "average" or c.startswith("group:"):
            ax.axvspan(i - 0.5, i + 0.5, color="0.93", zorder=0)
    return 0.8


def accuracy_chart(records: pd.DataFrame, task: str, seeds: str = "checkpoints") -> Figure:
    """Per-language score of every run that is not a plain LLM (bars with 95% error bars), grouped by strategy; the
    plain LLM as a black tick per language and chance as a dashed line."""
    rows = select(records, task, seeds)
    metric = headline_metric(records, task)
    cats = column_order(task, rows)
    bars = rows[rows["kind"] != "plain"]
    series = {}
    for model, g in bars.groupby("model", sort=False):
        g = g.set_index("lang").reindex(cats)
        series[model] = (100 * g["value"], 100 * g["ci_low"], 100 * g["ci_high"])
    fig, ax = _axes(len(cats), len(series), f"{task}: {metric} per language (95% intervals)", f"{metric} (%)")
    if not cats:
        ax.text(0.5, 0.5, "no results", ha="center", transform=ax.transAxes)
        return fig
    _grouped_bars(ax, series, cats)
    refs = reference_lines(records, task)
    chance = refs.pop("chance", None)
    for j, (name, values) in enumerate(refs.items()):
        y = [100 * values.get(c, np.nan) for c in cats]
        ax.hlines(y, np.arange(len(cats)) - 0.45, np.arange(len(cats)) + 0.45, colors="black",
                  linestyles=["solid", "dotted"][j % 2], linewidth=1.6, label=f"{name} (plain LLM)")
    if chance is not None:
        ax.axhline(100 * chance, color="0.4", linestyle="--", linewidth=1, label=f"chance ({100 * chance:.0f}%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, ncols=min(4, len(series) + len(refs) + 1), loc="upper center",
              bbox_to_anchor=(0.5, -0.18 if len(cats) > 8 else -0.1), frameon=False)
    return fig


def gains(records: pd.DataFrame, task: str, seeds: str = "checkpoints") -> pd.DataFrame:
    g = gains_over_baseline(records[records["task"] == task], baseline=BASELINE)
    return mean_over_seeds(g, value="diff") if seeds == "mean" and not g.empty else g


def gain_chart(gain: pd.DataFrame, task: str) -> Figure:
    """Each fused strategy's paired accuracy gain over the last-layer bridge per language, with its 95% paired-
    bootstrap interval (same test items, eval.pairing)."""
    cats = column_order(task, gain) if not gain.empty else []
    series = {}
    for model, g in gain.groupby("model", sort=False):
        g = g.set_index("lang").reindex(cats)
        series[model] = (100 * g["diff"], 100 * g["ci_low"], 100 * g["ci_high"])
    fig, ax = _axes(len(cats), len(series), f"{task}: gain over the last-layer bridge on the same items "
                                            f"(paired 95% intervals)", "accuracy difference (points)")
    if not cats:
        ax.text(0.5, 0.5, "no paired predictions: needs a fused run and a last-layer run of this benchmark with "
                          "their predictions files", ha="center", va="center", transform=ax.transAxes, fontsize=9,
                wrap=True)
        ax.set_xticks([])
        return fig
    _grouped_bars(ax, series, cats)
    ax.axhline(0, color="black", linewidth=1)
    ax.legend(fontsize=8, ncols=min(4, len(series)), loc="upper center",
              bbox_to_anchor=(0.5, -0.18 if len(cats) > 8 else -0.1), frameon=False)
    return fig


def cards_html(records: pd.DataFrame) -> str:
    """A collapsible model card per checkpoint (HTML <details>), every value escaped."""
    items = []
    for card in model_cards(records):
        fields = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in card.items()
                         if k not in ("model",))
        items.append(f'<details class="lb-card"><summary><b>{escape(card["model"])}</b> '
                     f'&middot; {escape(card["checkpoint"])}</summary><table>{fields}</table></details>')
    return "".join(items) or '<div class="lb-empty">no models</div>'


def note_markdown(records: pd.DataFrame, task: str, seeds: str) -> str:
    rows = records[records["task"] == task]
    samples = sorted(set(rows["sample_note"]) - {"unknown"})
    hardware = sorted(set(rows["hardware"]) - {"unknown"}) or ["unknown"]
    ns = sorted({int(n) for n in rows.loc[rows["level"] == "language", "n"].dropna()})
    n = (f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}") if ns else "unknown"
    seed_note = ("Mean over seeds: the interval is a t-interval over the seeds' scores (training spread), or the "
                 "run's own interval for a single seed. ") if seeds == "mean" else ""
    return (f"**{escape(task)}** · {escape(headline_metric(records, task) or '')} in %, "
            f"**n = {n}** test examples per language. Cells read *value ±half the 95% interval*; the intervals "
            f"are percentile bootstrap over the test examples, and the gains are paired bootstrap "
            f"over the same items. {seed_note}Test samples: "
            + "; ".join(escape(s) for s in samples) + f". Hardware: {escape('; '.join(hardware))}. "
            "Each fused row names the checkpoint it was scored with (one bridge per task family); "
            "a model's name expands into its card below.")


def download(df: pd.DataFrame, directory: Path, task: str, kind: str) -> str:
    data = (df.to_csv(index=False) if kind == "csv" else
            json.dumps(json.loads(df.to_json(orient="records")), indent=1, ensure_ascii=False)).encode("utf-8")
    path = Path(directory) / f"layerbridge-{task}-{hashlib.sha256(data).hexdigest()[:10]}.{kind}"
    path.write_bytes(data)
    return str(path)


def empty_message(results_dir: Path) -> str:
    return (f"No results yet in `{escape(Path(results_dir).name)}/`. Run a batch evaluation (see About), e.g. "
            "`python -m eval run --model checkpoints/pocket-nli-transformer-softmax --task xnli "
            "--data-dir ../shared/benchdata --limit 100 --output results`, then press *Reload results*.")


def view(results_dir, task: str | None, seeds: str, downloads: Path) -> dict:
    """Everything the tab shows for `task` (the first benchmark when it is None or unknown)."""
    results_dir = Path(results_dir)
    records = load_records(results_dir) if results_dir.is_dir() else pd.DataFrame()
    tasks = benchmarks(records)
    if not tasks:
        return dict(tasks=[], task=None, table=pd.DataFrame(), accuracy=None, gain=None, cards="", csv=None,
                    json=None, note=empty_message(results_dir))
    if seeds not in dict(SEEDS).values():
        seeds = "checkpoints"
    task = task if task in tasks else tasks[0]
    mine = records[records["task"] == task]
    return dict(tasks=tasks, task=task, table=benchmark_table(records, task, seeds),
                accuracy=accuracy_chart(records, task, seeds), gain=gain_chart(gains(records, task, seeds), task),
                cards=cards_html(mine), csv=download(mine, downloads, task, "csv"),
                json=download(mine, downloads, task, "json"), note=note_markdown(records, task, seeds))
