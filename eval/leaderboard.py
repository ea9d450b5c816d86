"""The leaderboard: one row per model, a column per benchmark average and per (benchmark, language), built
with pandas from every results file under a directory. Files that are not ours are skipped with a warning."""
import warnings
from pathlib import Path

import pandas as pd

from .results import read_results

METRIC = "acc,none"
FALLBACK_METRICS = ("retrieval@1,fused",)  # alignment tasks have no accuracy: their column is fused retrieval@1


def load_all(results_dir) -> list[dict]:
    out = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            out.append(read_results(path))
        except ValueError as e:
            warnings.warn(f"skipping {path}: {e}", stacklevel=2)
    return out


def build_leaderboard(results_dir, metric: str = METRIC) -> pd.DataFrame:
    """Columns: model, kind, strategy, precision ("unknown" for files that predate it), encoder, llm, then
    '<task> avg', '<task> <group>' (a named language-group average) and '<task>/<lang>' (metric, in %), and
    '<task> n' (examples per language). One row per (model name, precision): float32 and bfloat16 runs never share
    a row. A run scored other than by log-likelihood gets its own row, "<name> (constrained)" or "<name> (generate)";
    the newest file wins when a (model, precision, task) was evaluated twice."""
    rows: dict[tuple, dict] = {}
    newest: dict[tuple, str] = {}
    for data in load_all(results_dir):
        m, task = data["model"], data["task"]
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        scoring = config.get("scoring")
        name = f"{m['name']} ({scoring})" if scoring in ("constrained", "generate") else m["name"]
        precision = config.get("precision") or "unknown"   # files older than the precision setting: unknown
        key = (name, precision, task)
        if key in newest and newest[key] > data.get("date", ""):
            continue
        newest[key] = data.get("date", "")
        row = rows.setdefault((name, precision), {"model": name, "kind": m.get("kind"), "strategy": m.get("strategy"),
                                                  "precision": precision, "encoder": m.get("encoder"), "llm": m.get("llm")})
        ns = []
        for lang, metrics in data["results"].items():
            if not isinstance(metrics, dict):
                continue
            name = next((k for k in (metric, *FALLBACK_METRICS) if k in metrics), None)
            if name is None or metrics[name] is None:
                continue
            value = round(100 * float(metrics[name]), 1)
            if lang == "average" or lang.startswith("group:"):
                row[f"{task} {'avg' if lang == 'average' else lang.split(':', 1)[1]}"] = value
            else:
                row[f"{task}/{lang}"] = value
                ns.append(int(metrics.get("n", 0)))
        if ns:
            row[f"{task} n"] = min(ns) if min(ns) == max(ns) else f"{min(ns)}-{max(ns)}"
    df = pd.DataFrame(list(rows.values()))
    if df.empty:
        return pd.DataFrame(columns=["model", "kind", "strategy", "precision", "encoder", "llm"])
    fixed = ["model", "kind", "strategy", "precision", "encoder", "llm"]
    df[fixed] = df[fixed].astype(object).where(df[fixed].notna(), "-")   # the plain LLM has no strategy/encoder
    tasks = sorted({c.split(" ")[0].split("/")[0] for c in df.columns if c not in fixed})
    ordered = fixed[:]
    for t in tasks:
        ordered += [c for c in df.columns if c.startswith(f"{t} ") and c != f"{t} n"]
        ordered += sorted(c for c in df.columns if c.startswith(f"{t}/"))
        ordered += [c for c in [f"{t} n"] if c in df.columns]
    return df[ordered].sort_values(["model", "precision"]).reset_index(drop=True)


def write_leaderboard(results_dir, out_prefix) -> pd.DataFrame:
    """Writes <out_prefix>.csv and <out_prefix>.md."""
    df = build_leaderboard(results_dir)
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text(df.to_markdown(index=False) if not df.empty else "(no results)\n",
                                      encoding="utf-8")
    return df
