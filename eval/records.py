"""Results files as one tidy table: a row per (model/checkpoint, task, language, metric), with the value, its 95%
interval and standard error, n, precision, scoring, seed, task version and date (in the manner of the MTEB
leaderboard's long format). The leaderboard's pivots and exports, the paired comparisons and the app all read
this one table.

`model` is the run's name (with "(constrained)" / "(generate)" and "[bfloat16]" when it was scored so),
`model_group` the same without the "-s<N>" suffix of its checkpoint's training seed (the seeds of one strategy share
it; the seed is read from the checkpoint's train_results.json, never from a name), `checkpoint` the checkpoint
directory's name (fused runs of one strategy name use one bridge per task family). `lang` is a language
code, "average" (the unweighted mean over languages) or "group:<name>" (a named language
group, tasks.Task.groups); `level` says which. `metric` keeps lm-evaluation-harness's key ("acc,none",
"f1_macro,none", "retrieval@1,fused"). `train_variant` names how a bridge's training data departed from its task's
default (training.train's summary, e.g. "sentences<=1"; "" for none). Fields that older files lack are "unknown"
(text) or empty (numbers).
"""
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from fusion import checkpoint
from fusion.errors import CheckpointError

from .results import read_results
from tasks import TASKS

UNKNOWN = "unknown"
COLUMNS = ["model", "model_group", "checkpoint", "kind", "strategy", "family", "seed", "train_variant", "recipe",
           "target_text", "centering", "precision", "scoring", "task", "task_version", "task_hash", "lang", "level", "metric", "value", "ci_low", "ci_high",
           "stderr", "n", "date", "hardware", "sample_note", "encoder", "llm", "checkpoint_path", "checkpoint_sha256",
           "results_file"]
NOT_METRICS = ("n", "languages")


def load_results(results_dir) -> list[tuple[Path, dict]]:
    """(path, data) of every results file under `results_dir`; other JSON files are skipped with a warning."""
    out = []
    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            out.append((path, read_results(path)))
        except ValueError as e:
            warnings.warn(f"skipping {path}: {e}", stacklevel=2)
    return out


def resolve_checkpoint(path, results_dir=None) -> Path | None:
    """A results file's model path as a directory on this machine: as given, else relative to the directory above
    the results directory (results/ and checkpoints/ side by side in the repository)."""
    if not path:
        return None
    candidates = [Path(path).expanduser()]
    if results_dir is not None and not Path(path).is_absolute():
        candidates += [Path(results_dir).resolve().parent / path, Path(results_dir).resolve() / path]
    return next((c for c in candidates if c.is_dir()), None)


@lru_cache(maxsize=256)
def _train_results(path: str, mtime: float) -> dict:
    try:
        return checkpoint.read_train_results(path)
    except CheckpointError:
        return {}


def train_results(checkpoint_dir) -> dict:
    """The checkpoint's train_results.json (training.train), or {} when it is missing or unreadable."""
    if checkpoint_dir is None:
        return {}
    file = Path(checkpoint_dir) / checkpoint.RESULTS_FILE
    return _train_results(str(checkpoint_dir), file.stat().st_mtime) if file.is_file() else {}


def seed_of(trained: dict) -> int | None:
    """The training seed train_results.json records, else None."""
    seed = trained.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def group_name(name: str, seed: int | None) -> str:
    """The name the seeds of one strategy share: a run's name without its "-s<seed>" suffix, where its checkpoint
    records that training seed."""
    return name.removesuffix(f"-s{seed}") if seed else name


RECIPE_DEFAULTS = {"fusion_entropy_weight": 0.0, "transformer_last_layer_init": 0.0, "ema_decay": 0.0}
RECIPE_TAGS = {"fusion_lr": "fusion lr", "fusion_entropy_weight": "entropy", "transformer_last_layer_init": "last init",
               "ema_decay": "EMA"}


def recipe_tag(recipe) -> str:
    """How a bridge's training recipe departs from the shipped one (train_results.json's "recipe"), e.g.
    "fusion lr 0.0001" or "EMA 0.99"; "" for the shipped recipe or a bridge that predates the record."""
    if not isinstance(recipe, dict):
        return ""
    changed = {k: v for k, v in recipe.items() if k in RECIPE_DEFAULTS and v != RECIPE_DEFAULTS[k]}
    if recipe.get("fusion_lr") not in (None, recipe.get("lr")):
        changed = {"fusion_lr": recipe["fusion_lr"], **changed}
    return ", ".join(f"{RECIPE_TAGS[k]} {v:g}" for k, v in changed.items())


def centering_tag(centering) -> str:
    """How a run centred its encoder states (fusion.centering; its results' model.centering): "" for none,
    "+centered" (every token moved) or "+centered (text tokens)"."""
    if not isinstance(centering, dict):
        return ""
    tokens = centering.get("tokens", "all")
    return "+centered" if tokens == "all" else f"+centered ({tokens} tokens)"


def run_label(name: str, scoring, precision) -> str:
    """The name a run is shown under: a run scored other than by log-likelihood, or in bfloat16, is its own row."""
    label = f"{name} ({scoring})" if scoring in ("constrained", "generate") else name
    return f"{label} [{precision}]" if precision == "bfloat16" else label


def _number(x):
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else np.nan


def _rows(path: Path, data: dict, results_dir) -> list[dict]:
    m, task = data["model"], data["task"]
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    task_config = data.get("task_config") if isinstance(data.get("task_config"), dict) else {}
    ckpt_dir = resolve_checkpoint(m.get("path"), results_dir)
    checkpoint_name = Path(m["path"]).name if m.get("path") else m["name"]
    trained = train_results(ckpt_dir)
    seed = seed_of(trained)
    scoring, precision = config.get("scoring") or UNKNOWN, config.get("precision") or UNKNOWN
    name = run_label(m["name"], scoring, precision)
    t = TASKS.get(task)
    common = dict(model=name, model_group=run_label(group_name(m["name"], seed), scoring, precision),
                  checkpoint=checkpoint_name, kind=m.get("kind") or UNKNOWN, strategy=m.get("strategy") or "-",
                  family=t.family if t else "-", seed=seed,
                  train_variant=str(trained.get("train_variant") or ""), recipe=recipe_tag(trained.get("recipe")),
                  target_text=bool(m.get("centering")), centering=centering_tag(m.get("centering")),
                  precision=precision,
                  scoring=scoring, task=task, task_version=str(task_config.get("version") or UNKNOWN),
                  task_hash=task_config.get("hash") or UNKNOWN, date=data.get("date") or UNKNOWN,
                  hardware=data.get("hardware") or UNKNOWN, sample_note=data.get("sample_note") or UNKNOWN,
                  encoder=m.get("encoder") or "-", llm=m.get("llm") or "-",
                  checkpoint_path=str(ckpt_dir or m.get("path") or ""),
                  checkpoint_sha256=m.get("checkpoint_sha256") or "-", results_file=str(path))
    rows = []
    for lang, metrics in data["results"].items():
        level = "average" if lang == "average" else "group" if lang.startswith("group:") else "language"
        for key, value in metrics.items():
            if key in NOT_METRICS or "_ci95," in key or "_stderr," in key or "," not in key or value is None:
                continue
            base, _, flt = key.partition(",")
            ci = metrics.get(f"{base}_ci95,{flt}")
            lo, hi = (ci if isinstance(ci, list) and len(ci) == 2 else (None, None))
            rows.append(dict(common, lang=lang, level=level, metric=key, value=float(value), ci_low=_number(lo),
                             ci_high=_number(hi), stderr=_number(metrics.get(f"{base}_stderr,{flt}")),
                             n=_number(metrics.get("n"))))
    return rows + _missing_groups(rows, common, t)


def _missing_groups(rows: list[dict], common: dict, task) -> list[dict]:
    """Group averages that a file predating them lacks, from its per-language values (no interval)."""
    if task is None or not task.groups:
        return []
    have = {r["lang"] for r in rows if r["level"] == "group"}
    out = []
    for name, members in task.groups.items():
        if f"group:{name}" in have:
            continue
        for metric in sorted({r["metric"] for r in rows}):
            vals = [r for r in rows if r["metric"] == metric and r["level"] == "language" and r["lang"] in members]
            if vals:
                out.append(dict(common, lang=f"group:{name}", level="group", metric=metric,
                                value=float(np.mean([r["value"] for r in vals])), ci_low=np.nan, ci_high=np.nan,
                                stderr=np.nan, n=float(np.nansum([r["n"] for r in vals]))))
    return out


def load_records(results_dir) -> pd.DataFrame:
    """The tidy table (COLUMNS) of every results file under `results_dir`. When one run (model, checkpoint,
    precision, scoring, task) was evaluated twice, the newest file wins."""
    rows = [r for path, data in load_results(results_dir) for r in _rows(path, data, results_dir)]
    df = pd.DataFrame(rows, columns=COLUMNS)
    if df.empty:
        return df
    run = ["model", "checkpoint", "precision", "scoring", "task"]
    newest = df.groupby(run, dropna=False)["date"].transform("max")
    df = df[df["date"] == newest]
    newest_file = df.groupby(run, dropna=False)["results_file"].transform("max")  # equal dates: one file
    df = df[df["results_file"] == newest_file]
    df["seed"] = df["seed"].astype("Int64")
    return df.sort_values(["task", "model", "checkpoint", "lang", "metric"]).reset_index(drop=True)


def mean_over_seeds(records: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """One row per (model group, task, language, metric): the mean over the seeds' checkpoints. With k > 1 seeds
    the interval is the mean ± t(0.975, k-1) · sd / sqrt(k) over seeds (the spread of training, not of the test
    sample); with one seed the run's own interval is kept. `checkpoint` lists the checkpoints, `seed` is empty and
    `n_seeds` counts them. `value` names the column averaged (eval.pairing's gains average "diff")."""
    from scipy import stats

    if records.empty:
        return records.assign(n_seeds=pd.Series(dtype=int))
    keys = [k for k in ("model_group", "kind", "strategy", "family", "precision", "scoring", "task", "lang", "level",
                        "metric") if k in records]
    out = []
    for key, g in records.groupby(keys, dropna=False, sort=False):
        k = len(g)
        row = g.iloc[0].to_dict()
        row.update(zip(keys, key))
        mean = float(g[value].mean())
        if k > 1:
            se = float(g[value].std(ddof=1) / np.sqrt(k))
            half = float(stats.t.ppf(0.975, k - 1)) * se
            row.update(ci_low=mean - half, ci_high=mean + half, stderr=se)
        row.update({"model": row["model_group"], value: mean, "seed": pd.NA, "n_seeds": k,
                    "checkpoint": ", ".join(sorted(g["checkpoint"]))})
        out.append(row)
    return pd.DataFrame(out, columns=[*records.columns, "n_seeds"])


CARD_FIELDS = ("task", "train_examples", "steps", "global_batch", "seed", "dev_accuracy", "dev_examples", "hardware")


def weight_stats_line(stats) -> str:
    """train_results.json's dev_weight_stats (fusion.weight_stats) in a line: how a fusion spreads each token's weight
    over the layers ("largest 1.00" = a hard choice of one layer per token); "unknown" where not recorded."""
    if not isinstance(stats, dict) or not stats.get("tokens"):
        return UNKNOWN
    return (f"largest {stats['max_weight']:.2f}, entropy {stats['entropy']:.2f} of {stats['max_entropy']:.2f} nats, "
            f"variation across a text's tokens {stats['token_variation']:.2f} ({stats['tokens']} tokens)")


def model_cards(records: pd.DataFrame) -> list[dict]:
    """One card per checkpoint in `records`: what identifies it (kind, strategy, seed, precision, checkpoint path
    and SHA-256, encoder, LLM) and, where its train_results.json is found, how it was trained (training task,
    examples, steps, batch, dev accuracy). Missing fields are "unknown"."""
    cards = []
    for _, r in records.drop_duplicates(["model", "checkpoint", "precision"]).iterrows():
        path = r["checkpoint_path"]
        trained = train_results(path) if path and Path(path).is_dir() else {}
        training = {f"train {k}" if k in ("task", "hardware") else k: trained.get(k, UNKNOWN) for k in CARD_FIELDS}
        if not pd.isna(r["seed"]):
            training["seed"] = int(r["seed"])
        training["layer weights per token (English dev)"] = weight_stats_line(trained.get("dev_weight_stats"))
        cards.append({"model": r["model"], "checkpoint": r["checkpoint"], "kind": r["kind"],
                      "strategy": r["strategy"], "precision": r["precision"], "scoring": r["scoring"],
                      "encoder": r["encoder"], "llm": r["llm"], "path": path or "-",
                      "sha256": r["checkpoint_sha256"], **training})
    return cards
