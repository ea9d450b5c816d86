"""Command line of the evaluation harness.

    python -m eval run --model checkpoints/pocket-nli-global-softmax --task xnli --languages en hi sw \
        --limit 100 --data-dir ../shared/benchdata --output results
    python -m eval run --model plain:pocket --task sinhala_news --data-dir ../shared/benchdata --output results
    python -m eval run --model someone/pocket-nli-last@v1 --task xnli --output results   # a bridge on the Hub
    python -m eval run --model pocket --task ntrex_alignment --data-dir ../shared/benchdata --output results
    python -m eval run --model checkpoints/pocket-topic-last --task sib200 --output results     # the Hub dataset
    python -m eval run --model checkpoints/pocket-topic-last --task sib200 --hub-dir data/hub --output results
        # a local copy of it (python -m tasks.hub_copy --task sib200 --output data/hub)
    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
        -m eval run ...        # N processes (CPU + gloo where there is no CUDA), same numbers as one
    python -m eval leaderboard --results results                   # results/leaderboard.{csv,md}
    python -m eval seeds --results results --task sib200           # strategies over seeds, paired tests

Mistakes (unknown task, language or model, bad data files) print `error: <message>` and exit with status 2.
"""
import argparse
import sys
import warnings
from pathlib import Path

from fusion.errors import DataError, exit_on_user_error


def build_parser() -> argparse.ArgumentParser:
    from fusion import PRECISIONS, strategy_names

    from .runner import SCORINGS
    from tasks import ALIGNMENT_TASKS, FAMILIES, TASKS

    p = argparse.ArgumentParser(prog="python -m eval", description="LayerBridge evaluation harness")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="evaluate a model on a task and write results + predictions",
                         description="Evaluate a model on a task; an interrupted run resumes from its predictions.")
    run.add_argument("--model", required=True,
                     help="a checkpoint directory, a Hugging Face Hub model id USER/NAME[@revision] (a bridge or "
                          "probe), a preset (tiny, pocket, paper: untrained bridge), plain:<preset or LLM> (the LLM "
                          "alone) or probe:<preset> (the encoder alone, the task family's probe)")
    run.add_argument("--task", required=True,
                     help=f"one of {', '.join([*TASKS, *ALIGNMENT_TASKS])} (or a family: {', '.join(FAMILIES)})")
    run.add_argument("--languages", nargs="+", metavar="LANG", help="default: every language with test data")
    run.add_argument("--limit", type=int, help="a class-balanced seeded sample of N examples per language (the "
                                                "first N parallel sentences for alignment)")
    run.add_argument("--data-dir", help="local benchmark data (schema of ../shared/benchdata); default: the task's "
                                        "Hugging Face dataset")
    run.add_argument("--hub-dir", help="a local copy of the task's Hugging Face dataset (python -m tasks.hub_copy), "
                                       "read like the Hub id")
    run.add_argument("--output", required=True, help="results directory: writes <output>/<model name>/<task>.json "
                                                     "and <task>.predictions.jsonl")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="frozen backbones' precision: auto (bfloat16 on CUDA and on CPUs with AVX512-BF16/AMX, "
                          "else float32), float32 or bfloat16")
    run.add_argument("--scoring", choices=SCORINGS, default="loglik",
                     help="loglik: most likely label string (default); constrained: most likely label under "
                          "decoding restricted to the labels (faster, no vocabulary-wide normalizer); "
                          "generate: greedy generation + exact match")
    run.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI (0 = none)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--name", help="model name in the results (default: checkpoint dir name or preset)")
    run.add_argument("--strategy", choices=strategy_names(), help="fusion strategy of a preset's untrained bridge")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--centering", metavar="DIR", help="per-language centering statistics (python -m "
                     "fusion.centering): each example's encoder states are moved onto English's by its language's "
                     "mean; uses unlabeled target-language text, and the results say so")
    run.add_argument("--centering-scale", action="store_true", help="with --centering: match the spread too")
    run.add_argument("--centering-tokens", choices=["all", "text"], default="all",
                     help="with --centering: move every encoder token (all: the English prompt template's words and "
                          "the special tokens too) or only the tokens of the example's own text (text)")
    lb = sub.add_parser("leaderboard", help="build the leaderboard (CSV + Markdown) from a results directory")
    lb.add_argument("--results", required=True, help="directory with results JSON files (searched recursively)")
    lb.add_argument("--output", help="output prefix (default: <results>/leaderboard -> .csv and .md)")
    seeds = sub.add_parser("seeds", help="compare the fusion strategies over their training seeds on one task "
                                         "(mean and spread; paired gains over the last layer and the encoder alone)")
    seeds.add_argument("--results", required=True, help="directory with results JSON files (searched recursively)")
    seeds.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    seeds.add_argument("--precision", choices=["float32", "bfloat16"], help="only runs in this precision")
    return p


def cmd_seeds(args):
    from .records import load_records
    from .seeds import markdown
    from tasks import get_task
    task = get_task(args.task)
    results = Path(args.results)
    if not results.is_dir():
        raise DataError(f"results directory {results} does not exist")
    records = load_records(results)
    if records.empty or not (records["task"] == task.name).any():
        raise DataError(f"no results for task {task.name} under {results}")
    try:
        print(markdown(records, task.name, args.precision))
    except ValueError as e:  # runs that cannot be paired (no shared item, predictions without "acc" or "correct")
        raise DataError(f"cannot compare the runs of {task.name} under {results}: {e}") from e


def load_centering(path, scale: bool, tokens: str = "all"):
    if path is None:
        return None
    from fusion.centering import CenteringStats, LanguageCentering
    return LanguageCentering(CenteringStats.load(path), scale=scale, source=str(path), tokens=tokens)


def cmd_run(args):
    from accelerate import PartialState

    from .runner import evaluate, safe_name
    r = evaluate(args.model, args.task, languages=args.languages, data_dir=args.data_dir, limit=args.limit,
                 output_dir=args.output, batch_size=args.batch_size, scoring=args.scoring, bootstrap=args.bootstrap,
                 seed=args.seed, model_name=args.name, progress=not args.no_progress, strategy=args.strategy,
                 precision=args.precision, centering=load_centering(args.centering, args.centering_scale,
                                                                          args.centering_tokens),
                 hub_dir=args.hub_dir)
    if not PartialState().is_main_process:
        return
    out = Path(args.output) / safe_name(r["model"]["name"])
    print(f"{r['model']['name']} on {r['task']} ({r['sample_note']})")
    for lang, m in r["results"].items():
        if "acc,none" in m and lang.startswith("group:"):
            print(f"  {lang:8s} acc {100 * m['acc,none']:5.1f}  macro-F1 {100 * m['f1_macro,none']:5.1f}  "
                  f"(mean of {len(m.get('languages', []))} languages)")
        elif "acc,none" in m:
            ci = m["acc_ci95,none"]
            ci = f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else ""
            print(f"  {lang:8s} acc {100 * m['acc,none']:5.1f}{ci}  macro-F1 {100 * m['f1_macro,none']:5.1f}  n={m['n']}")
        else:
            picked = max((k for k in m if k.startswith("fusion_weight,")), key=lambda k: m[k], default=None)
            picked = f"  fusion's heaviest layer {picked.split('_')[-1]} ({m[picked]:.2f})" if picked else ""
            layers = sorted((k for k in m if k.startswith("retrieval@1,layer_")), key=lambda k: int(k.split("_")[-1]))
            if not layers:                                   # the source language: its layer mix only
                print(f"  {lang:8s} (source){picked}  n={m['n']}")
                continue
            best = max(layers, key=lambda k: m[k])
            print(f"  {lang:8s} retrieval@1 fused {100 * m['retrieval@1,fused']:5.1f}  best layer "
                  f"{best.split('_')[-1]} {100 * m[best]:5.1f}  last layer {100 * m[layers[-1]]:5.1f}{picked}  "
                  f"n={m['n']}")
    print(f"wrote {out / (r['task'] + '.json')} and {out / (r['task'] + '.predictions.jsonl')}")


def cmd_leaderboard(args):
    from .leaderboard import markdown, write_leaderboard
    results = Path(args.results)
    if not results.is_dir():
        raise DataError(f"results directory {results} does not exist")
    prefix = Path(args.output) if args.output else results / "leaderboard"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = write_leaderboard(results, prefix)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(markdown(records))
    print(f"wrote {prefix.with_suffix('.csv')} and {prefix.with_suffix('.md')}", file=sys.stderr)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        with exit_on_user_error(also=(OSError,)):  # OSError: an unwritable output directory, a full disk, ...
            {"run": cmd_run, "leaderboard": cmd_leaderboard, "seeds": cmd_seeds}[args.command](args)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
