"""Score a trained bridge on the English dev set of its training run, rebuilt as training builds it (the same
held-out texts for the run's seed), in the form asked for: e.g. a whole-article news bridge on the sentences of its
held-out articles, so that two training variants are compared on the same English rows. English only: it may
decide between variants; it never reads a test set.

    python -m training.dev_eval checkpoints/pocket-news-last --data-dir ../shared/benchdata --sentence-chunks 1
"""
import argparse
import json
import sys
from pathlib import Path

from fusion.errors import DataError, LayerBridgeError
from fusion.model import FusedModel
from tasks import get_task

from .train import RESULTS_FILE, TrainArgs, dev_metrics, prepare_data, train_variant


def dev_eval(checkpoint_dir, data_dir, sentence_chunks: int = 0, examples: int = 300, precision: str = "auto",
             backbones: FusedModel | None = None) -> tuple[dict, FusedModel]:
    """({checkpoint, task, seed, form, precision, dev_accuracy, dev_loss, dev_examples} on the run's English dev
    rows, the loaded model); `backbones`: a model whose frozen encoder and LLM to share (FusedModel.from_pretrained)."""
    results = Path(checkpoint_dir) / RESULTS_FILE
    try:
        trained = json.loads(results.read_text(encoding="utf-8"))
        task_name, seed = trained["task"], int(trained["seed"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{results} is missing or has no task and seed (a bridge from python -m training.train "
                        f"and training.export has one): {e}") from e
    task = get_task(task_name)
    args = TrainArgs(task=task_name, data_dir=str(data_dir), seed=seed, sentence_chunks=sentence_chunks)
    _, dev = prepare_data(args, task)
    model = FusedModel.from_pretrained(checkpoint_dir, dtype=precision, backbones=backbones)
    scores = dev_metrics(model, task, dev, examples)
    return ({"checkpoint": str(checkpoint_dir), "task": task_name, "seed": seed,
             "form": train_variant(sentence_chunks) or "whole texts",
             "precision": model.precision, **{k: scores[k] for k in ("dev_accuracy", "dev_loss", "dev_examples")}},
            model)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.dev_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="exported bridges (training.export), each with train_results.json")
    p.add_argument("--data-dir", required=True, help="the benchmark data folder training read")
    p.add_argument("--sentence-chunks", type=int, default=0, help="score runs of at most N sentences (0: whole texts)")
    p.add_argument("--examples", type=int, default=300, help="dev rows scored (the first N, as in training)")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    args = p.parse_args(argv)
    if args.examples < 1:
        p.error(f"--examples must be at least 1 (got {args.examples})")
    try:
        model = None
        for ckpt in args.checkpoints:
            scores, model = dev_eval(ckpt, args.data_dir, args.sentence_chunks, args.examples, args.precision, model)
            print(json.dumps(scores), flush=True)
    except LayerBridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
