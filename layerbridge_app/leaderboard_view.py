"""The Leaderboard tab's content for one benchmark: a table, two Plotly charts with their text descriptions, model
cards, downloads and a note on what the numbers are. Everything is computed by eval.records / eval.leaderboard /
eval.pairing; this module only chooses the defaults, draws and formats. Text from results files is escaped before
it goes into HTML.

What a view shows: a benchmark (by default the one of the app's default task family: SIB-200, the benchmark that
covers the mission's languages), a language view (a language group of the task, or all of its languages), rows
per checkpoint or means over seeds (the default where some model has several seeds), and full-sample runs only
unless partial runs (`eval run --limit`) are asked for; those are then labelled with their n."""
import hashlib
import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from eval.leaderboard import (RUN_COLUMNS, benchmark_table, benchmarks, english_only, headline_metric, language_views,
                              partial_runs, reference_lines, select, view_columns, without_partial_runs)
from eval.pairing import gains_over_baseline
from eval.records import load_records, mean_over_seeds, model_cards

SEEDS = [("each checkpoint", "checkpoints"), ("mean over seeds", "mean")]
# a colour per strategy (the encoder-alone probe: "probe"), the same in both charts; further runs of one strategy
# (a data variant, another precision) take the next spare colour
STRATEGY_COLORS = {"last": "#2563eb", "global-softmax": "#f97316", "transformer-softmax": "#a855f7",
                   "residual-softmax": "#16a34a", "probe": "#dc2626"}
SPARE_COLORS = ["#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#be123c", "#0f766e"]
BASELINE = "last"
CHART_HEIGHT = 460   # px; the width follows the page (Plotly's autosize)


def _label(col: str) -> str:
    return col.split(":", 1)[1] if col.startswith("group:") else col


def series_colors(rows: pd.DataFrame) -> dict[str, str]:
    """model -> its bars' colour: its strategy's (STRATEGY_COLORS) for the first run of each, a spare one after."""
    runs = rows.drop_duplicates("model")
    keys = runs["kind"].where(runs["kind"] == "probe", runs["strategy"]) if "kind" in runs else runs["strategy"]
    colors, taken, spare = {}, set(), iter(SPARE_COLORS * (1 + len(runs) // len(SPARE_COLORS)))
    for model, key in zip(runs["model"], keys):
        color = STRATEGY_COLORS.get(key)
        colors[model] = color if color is not None and color not in taken else next(spare)
        taken.add(colors[model])
    return colors


def _figure(categories: list[str], ylabel: str) -> go.Figure:
    """An empty grouped-bar figure: legend above the plot (it wraps onto more lines instead of being cut), x labels
    tilted by Plotly when they would overlap, averages and group averages shaded apart from the languages."""
    fig = go.Figure()
    fig.update_layout(barmode="group", height=CHART_HEIGHT, autosize=True, template="plotly_white",
                      margin=dict(l=60, r=20, t=10, b=10), bargap=0.2, hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, font_size=12),
                      yaxis=dict(title=ylabel, automargin=True), font=dict(size=12))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=[_label(c) for c in categories],
                     automargin=True, tickfont_size=11)
    for i, c in enumerate(categories):
        if c == "average" or c.startswith("group:"):
            fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor="rgba(0,0,0,0.06)", line_width=0, layer="below")
    return fig


def _bars(fig: go.Figure, name: str, color: str, categories: list[str], value, lo, hi, n=None):
    """One series of bars (values in %) with asymmetric 95% error bars and the interval in the hover text."""
    value, lo, hi = (np.asarray(a, dtype=float) for a in (value, lo, hi))
    n = np.full(len(value), np.nan) if n is None else np.asarray(n, dtype=float)
    fig.add_trace(go.Bar(
        name=name, x=[_label(c) for c in categories], y=value, marker_color=color,
        error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - value),
                     arrayminus=np.nan_to_num(value - lo), thickness=1, width=2),
        customdata=np.stack([lo, hi, n], axis=-1),
        hovertemplate="<b>%{fullData.name}</b><br>%{x}: %{y:.1f} [%{customdata[0]:.1f}, %{customdata[1]:.1f}]"
                      "<br>n = %{customdata[2]}<extra></extra>"))


def accuracy_chart(records: pd.DataFrame, task: str, seeds: str = "checkpoints", view: str = "all",
                   partial: str = "hide") -> go.Figure:
    """Per-language score of every run that is not a plain LLM (bars with 95% error bars); the plain LLM as a black
    tick per language and chance as a dashed line."""
    rows = select(records, task, seeds, partial=partial)
    cats = view_columns(task, rows, view)
    fig = _figure(cats, f"{headline_metric(records, task)} (%)")
    if not cats:
        fig.add_annotation(text="no results", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        return fig
    bars = rows[rows["kind"] != "plain"]
    colors = series_colors(bars)
    for model, g in bars.groupby("model", sort=False):
        g = g.set_index("lang").reindex(cats)
        _bars(fig, model, colors[model], cats, 100 * g["value"], 100 * g["ci_low"], 100 * g["ci_high"],
              g["n"])
    refs = reference_lines(records, task, partial)
    guess = refs.pop("chance", None)
    for j, (model, values) in enumerate(refs.items()):   # the plain LLM(s)
        fig.add_trace(go.Scatter(name=f"{model} (plain LLM)", x=[_label(c) for c in cats],
                                 y=[100 * values.get(c, np.nan) for c in cats], mode="markers",
                                 marker=dict(symbol="line-ew-open", size=28, color="black", line=dict(width=2 + j)),
                                 hovertemplate="<b>%{fullData.name}</b><br>%{x}: %{y:.1f}<extra></extra>"))
    if guess is not None:
        fig.add_hline(y=100 * guess, line_dash="dash", line_color="gray", line_width=1,
                      annotation_text=f"chance {100 * guess:.0f}%", annotation_position="top right")
    fig.update_yaxes(range=[0, 105])
    return fig


def gains(records: pd.DataFrame, task: str, seeds: str = "checkpoints") -> pd.DataFrame:
    g = gains_over_baseline(records[records["task"] == task], baseline=BASELINE)
    return mean_over_seeds(g, value="diff") if seeds == "mean" and not g.empty else g


def gain_chart(gain: pd.DataFrame, task: str, view: str = "all") -> go.Figure:
    """Each fused strategy's paired accuracy gain over the last-layer bridge per language, with its 95% paired-
    bootstrap interval (same test items, eval.pairing)."""
    cats = view_columns(task, gain, view) if not gain.empty else []
    fig = _figure(cats, "accuracy difference (points)")
    if not cats:
        fig.add_annotation(text="no paired predictions: needs a fused run and a last-layer run of this benchmark "
                                "with their predictions files", showarrow=False, xref="paper", yref="paper",
                           x=0.5, y=0.5)
        fig.update_xaxes(visible=False)
        return fig
    colors = series_colors(gain)
    for model, g in gain.groupby("model", sort=False):
        g = g.set_index("lang").reindex(cats)
        _bars(fig, model, colors[model], cats, 100 * g["diff"], 100 * g["ci_low"],
              100 * g["ci_high"], g["n"])
    fig.add_hline(y=0, line_color="black", line_width=1)
    return fig


def accuracy_alt(table: pd.DataFrame, task: str, metric: str, view: str) -> str:
    """The accuracy chart in words (its alt text): what it plots and the best run on the view's main column."""
    best = "average" if view == "all" else f"group:{view}"
    if table.empty or best not in table:
        return f"Chart of {task}: no results to plot."
    top = table.dropna(subset=[best]).iloc[0] if table[best].notna().any() else None
    lead = (f" Best on {_label(best)}: {top['model']} at {top[best]:.1f}%." if top is not None else "")
    return (f"Bar chart of {task}, {metric} in % per column ({len(table.columns) - len(RUN_COLUMNS) - 1} columns: "
            f"{', '.join(_label(c) for c in table.columns if c not in (*RUN_COLUMNS, 'n'))}) for "
            f"{len(table)} runs, with 95% intervals; a plain LLM is drawn as black ticks, chance as a dashed line."
            f"{lead} The numbers are in the table above.")


def gain_alt(gain: pd.DataFrame, task: str, view: str) -> str:
    """The gain chart in words (its alt text)."""
    if gain.empty:
        return f"Chart of {task}: no paired gains over the last-layer bridge to plot."
    main = "average" if view == "all" else f"group:{view}"
    parts = [f"{m} {100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" for m, d, lo, hi in
             gain[gain["lang"] == main][["model", "diff", "ci_low", "ci_high"]].itertuples(index=False)]
    return (f"Bar chart of {task}: each fused run's accuracy gain over the last-layer bridge on the same test items, "
            f"in points, per column, with paired 95% intervals. On {_label(main)}: {'; '.join(parts) or 'none'}.")


def shown_columns(table: pd.DataFrame) -> list[str]:
    """The tab's column order: the model, its scores and n first (on screen without scrolling), then the rest of
    what identifies the run."""
    scores = [c for c in table.columns if c not in RUN_COLUMNS]
    return ["model", *scores, *[c for c in RUN_COLUMNS if c != "model"]]


def table_value(table: pd.DataFrame, shown: pd.DataFrame) -> dict:
    """gr.Dataframe's value: the numbers (so that a click on a header sorts by value) and, as display values, the
    same cells as "81.3 ±1.5" strings. `table` holds the numbers (benchmark_table formatted=False), `shown` the
    strings, in the same order."""
    table, shown = table[shown_columns(table)], shown[shown_columns(shown)]
    numbers = table.astype(object).where(table.notna(), None)
    display = shown.astype(object).where(shown.notna(), "")
    return {"headers": [str(c) for c in table.columns], "data": numbers.values.tolist(),
            "metadata": {"display_value": display.values.tolist(), "styling": [[""] * table.shape[1]] * len(table)}}


def cards_html(records: pd.DataFrame) -> str:
    """A collapsible model card per checkpoint (HTML <details>), every value escaped."""
    items = []
    for card in model_cards(records):
        fields = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in card.items()
                         if k not in ("model",))
        items.append(f'<details class="lb-card"><summary><b>{escape(card["model"])}</b> '
                     f'&middot; {escape(card["checkpoint"])}</summary><table>{fields}</table></details>')
    return "".join(items) or '<div class="lb-empty">no models</div>'


def centred_note(centred: pd.DataFrame, task: str) -> str:
    runs = centred.loc[centred["task"] == task, "model"].unique() if not centred.empty else []
    return (f" {len(runs)} run{'s' if len(runs) > 1 else ''} that also read unlabeled target-language text "
            f"(per-language centering) {'are' if len(runs) > 1 else 'is'} not mixed into this English-only board: "
            f"see docs/results.md.") if len(runs) else ""


def note_markdown(records: pd.DataFrame, task: str, seeds: str, hidden: dict) -> str:
    """What the numbers are: metric, n, intervals, samples, hardware; `records` are the runs shown, `hidden` the
    partial runs left out (results file -> n)."""
    rows = records[records["task"] == task]
    samples = sorted(set(rows["sample_note"]) - {"unknown"})
    hardware = sorted(set(rows["hardware"]) - {"unknown"}) or ["unknown"]
    ns = sorted({int(n) for n in rows.loc[rows["level"] == "language", "n"].dropna()})
    n = (f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}–{ns[-1]}") if ns else "unknown"
    seed_note = ("Mean over seeds: the interval is a t-interval over the seeds' scores (training spread), or the "
                 "run's own interval for a single seed. ") if seeds == "mean" else ""
    hidden_note = (f"{len(hidden)} partial run{'s' if len(hidden) > 1 else ''} (`--limit`, n = "
                   f"{', '.join(sorted(set(hidden.values())))} per language) hidden: tick *include partial runs* to "
                   "see them. ") if hidden else ""
    return (f"**{escape(task)}** · {escape(headline_metric(records, task) or '')} in %, "
            f"**n = {n}** test examples per language. Cells read *value ±half the 95% interval* (a click on a "
            f"header sorts by the value); the intervals are percentile bootstrap over the test examples, and the "
            f"gains are paired bootstrap over the same items. {seed_note}{hidden_note}Test samples: "
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


def has_seeds(records: pd.DataFrame, task: str) -> bool:
    """Whether some model of the task was scored with more than one training seed (several checkpoints in one model
    group, as eval.records.mean_over_seeds averages them)."""
    rows = records[records["task"] == task]
    return bool((rows.groupby("model_group")["checkpoint"].nunique() > 1).any()) if not rows.empty else False


def language_choices(task: str) -> list[tuple[str, str]]:
    """(label, value) of the task's language views: "si-ta-bn (3 languages)", ..., "all"."""
    return [(f"{name} ({len(members)} languages)" if members else name, name)
            for name, members in language_views(task).items()]


def view(results_dir, task: str | None, seeds: str | None, downloads: Path, languages: str | None = None,
         partial: bool = False, default_task: str | None = None) -> dict:
    """Everything the tab shows for `task` (else `default_task`, else the first benchmark), its language view
    (default "all"), rows (default: means over seeds where some model has several seeds) and partial runs (shown,
    labelled with their n, only when `partial`); with the controls' resolved values and choices."""
    results_dir = Path(results_dir)
    records = load_records(results_dir) if results_dir.is_dir() else pd.DataFrame()
    records, centred = english_only(records)
    tasks = benchmarks(records)
    if not tasks:
        return dict(tasks=[], task=None, languages="all", language_choices=[("all", "all")], seeds="checkpoints",
                    partial=False, partial_label="include partial runs", has_partial=False, table=pd.DataFrame(),
                    display=pd.DataFrame(), accuracy=None, accuracy_alt="", gain=None, gain_alt="", cards="", csv=None,
                    json=None, note=empty_message(results_dir))
    task = task if task in tasks else default_task if default_task in tasks else tasks[0]
    languages = languages if languages in language_views(task) else "all"
    seeds = seeds if seeds in dict(SEEDS).values() else "mean" if has_seeds(records, task) else "checkpoints"
    hidden = partial_runs(records, task)
    mode = "label" if partial else "hide"
    shown = records if partial else without_partial_runs(records, task)
    mine = shown[shown["task"] == task]
    numbers = benchmark_table(records, task, seeds, formatted=False, view=languages, partial=mode)
    strings = benchmark_table(records, task, seeds, formatted=True, view=languages, partial=mode)
    gain = gains(shown, task, seeds)
    metric = headline_metric(records, task) or ""
    return dict(tasks=tasks, task=task, languages=languages, language_choices=language_choices(task), seeds=seeds,
                partial=bool(partial), has_partial=bool(hidden),
                partial_label=f"include partial runs (n = {', '.join(sorted(set(hidden.values())))} per language)"
                if hidden else "include partial runs",
                table=numbers, display=strings,
                accuracy=accuracy_chart(records, task, seeds, languages, mode),
                accuracy_alt=accuracy_alt(numbers, task, metric, languages),
                gain=gain_chart(gain, task, languages), gain_alt=gain_alt(gain, task, languages),
                cards=cards_html(mine), csv=download(mine, downloads, task, "csv"),
                json=download(mine, downloads, task, "json"),
                note=note_markdown(shown, task, seeds, {} if partial else hidden) + centred_note(centred, task))
