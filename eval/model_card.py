"""Model cards with their test results: rebuild the card (fusion.model_card) of every trained bridge and probe, its
model-index, `language` and Evaluation table filled from the results files that exist for it.

    python -m eval.model_card checkpoints checkpoints/ablations      # rewrite every card there (results: results/)
    python -m eval.model_card checkpoints --check                    # exit 1 where a card is out of date
    python -m eval.model_card my-bridge --results my-results         # another results directory

A checkpoint's results are those whose model entry names the SHA-256 of its weights, read through eval.records (one
row per language and metric, whatever the results file's layout): scored by log-likelihood, without target-language
text (centering), on a classification task; where a task was run in several precisions, the newest run.
"""
import argparse
import sys
from pathlib import Path

import pandas as pd

from fusion import checkpoint
from fusion.errors import DataError, exit_on_user_error
from fusion.model_card import Evaluation, regenerate, trained_checkpoints
from tasks import TASKS, get_task

from .records import load_records

METRICS = ("acc,none", "f1_macro,none")


def evaluations(records, path) -> list[Evaluation]:
    """The test results of the checkpoint at `path` among `records` (eval.records.load_records), per task and
    language in the results' order."""
    sha = checkpoint.weights_sha256(path)
    mine = records[(records["checkpoint_sha256"] == sha) & (records["scoring"] == "loglik") & ~records["target_text"]
                   & (records["level"] == "language") & records["metric"].isin(METRICS)
                   & records["task"].isin(list(TASKS))] if not records.empty else records
    out = []
    for task_name, rows in mine.groupby("task", sort=True):
        newest = rows.sort_values(["date", "results_file"]).iloc[-1]
        rows = rows[rows["results_file"] == newest["results_file"]]
        task = get_task(task_name)
        order = {lang: i for i, lang in enumerate(task.languages)}
        for lang, r in sorted(rows.groupby("lang"), key=lambda item: (order.get(item[0], len(order)), item[0])):
            acc, f1 = r[r["metric"] == "acc,none"], r[r["metric"] == "f1_macro,none"]
            if acc.empty:
                continue
            acc = acc.iloc[0]
            ci = (float(acc["ci_low"]), float(acc["ci_high"])) if pd.notna(acc["ci_low"]) else None
            out.append(Evaluation(task=task, language=lang, accuracy=float(acc["value"]),
                                  f1_macro=float(f1.iloc[0]["value"]) if len(f1) else None,
                                  n=int(acc["n"]) if pd.notna(acc["n"]) else None, ci95=ci,
                                  precision=str(acc["precision"]), note=str(acc["sample_note"])))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m eval.model_card", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="checkpoints, or folders of them (e.g. checkpoints checkpoints/ablations)")
    p.add_argument("--results", default="results", help="the results directory (default: results)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 where a card is out of date")
    args = p.parse_args(argv)
    with exit_on_user_error():
        if not Path(args.results).is_dir():
            raise DataError(f"results directory {args.results} does not exist")
        records = load_records(args.results)
        stale = [path for path in trained_checkpoints(args.paths)
                 if not regenerate(path, get_task(checkpoint.read_train_results(path)["task"]),
                                   evaluations(records, path), check=args.check)]
    for path in stale:
        print(f"{'out of date' if args.check else 'rewritten'}: {path / checkpoint.CARD_FILE}")
    if args.check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
