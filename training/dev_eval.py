"""Scoring a bridge on English dev: `dev_metrics` (what training records at every dev scoring), and a command that
scores a trained bridge on the English dev set of its training run, rebuilt as training builds it (the same
held-out texts for the run's seed), in the form asked for: e.g. a whole-article news bridge on the sentences of its
held-out articles, so that two training variants are compared on the same English rows. English only: it may
decide between variants; it never reads a test set.

    python -m training.dev_eval checkpoints/pocket-news-last --data-dir ../shared/benchdata --sentence-chunks 1

With --record-weight-stats, a bridge trained before training recorded its per-token layer weight statistics
(fusion.weight_stats) gets them now, measured on its own run's dev rows in its own form, and written into its
train_results.json with a note saying so (the model card and the leaderboard's model info read them from there).
"""
import argparse
import json
import math

from fusion import checkpoint
from fusion.errors import DataError, exit_on_user_error
from fusion.model import FusedModel
from fusion.weight_stats import weight_stats
from tasks import get_task

from .args import TrainArgs
from .data import prepare_data


def dev_metrics(model: FusedModel, task, dev: list[dict], n: int) -> dict | None:
    """Accuracy and mean cross-entropy over the choices (-log p(gold)) on the first n dev rows (a fixed set), and
    the fusion's layer mix there (its weight per fused layer, averaged over each text's tokens and the texts): an
    English-only view of what the bridge reads, e.g. a per-token fusion collapsing onto one early layer."""
    if n <= 0 or not dev:
        return None
    rows = dev[:n]
    mode = model.training
    model.train(False)
    preds = model.classify([task.prompt(r) for r in rows], task.targets, batch_size=16)
    model.train(mode)
    acc = sum(p["pred"] == r["label"] for p, r in zip(preds, rows)) / len(rows)
    loss = -sum(math.log(max(p["probs"][r["label"]], 1e-12)) for p, r in zip(preds, rows)) / len(rows)
    mix = [round(sum(w) / len(preds), 4) for w in zip(*(p["layer_weights"] for p in preds))]   # [L']
    return {"dev_accuracy": round(acc, 5), "dev_loss": round(loss, 5), "dev_examples": len(rows),
            "dev_layer_mix": mix, "dev_weight_stats": weight_stats([p["token_weights"] for p in preds])}


def dev_eval(checkpoint_dir, data_dir, sentence_chunks: int = 0, examples: int = 300, precision: str = "auto",
             backbones: FusedModel | None = None) -> tuple[dict, FusedModel]:
    """({checkpoint, task, seed, form, precision, dev_accuracy, dev_loss, dev_examples} on the run's English dev
    rows, the loaded model); `backbones`: a model whose frozen encoder and LLM to share (FusedModel.from_pretrained)."""
    info = checkpoint.identify(checkpoint_dir)
    if info is None or info.task is None or info.seed is None:
        raise DataError(f"{checkpoint_dir} has no {checkpoint.RESULTS_FILE} with a task and seed (a bridge from "
                        f"python -m training.train and training.export has one)")
    task = get_task(info.task)
    args = TrainArgs(task=info.task, data_dir=str(data_dir), seed=info.seed, sentence_chunks=sentence_chunks)
    _, dev = prepare_data(args, task)
    model = FusedModel.from_pretrained(checkpoint_dir, dtype=precision, backbones=backbones)
    scores = dev_metrics(model, task, dev, examples)
    return ({"checkpoint": str(checkpoint_dir), "task": info.task, "seed": info.seed,
             "form": checkpoint.data_variant(sentence_chunks) or "whole texts",
             "precision": model.precision,
             **{k: scores[k] for k in ("dev_accuracy", "dev_loss", "dev_examples", "dev_weight_stats")}},
            model)


def record_weight_stats(checkpoint_dir, data_dir, examples: int = 300, precision: str = "auto",
                        backbones: FusedModel | None = None) -> tuple[dict, FusedModel | None]:
    """Writes dev_weight_stats into a bridge's train_results.json where training did not record them, measured on
    the run's own English dev rows in its own form (whole texts, or the sentence runs its train_variant names).
    -> (what was written, or {} where the stats were already there; the loaded model, to share its backbones)."""
    trained = checkpoint.read_train_results(checkpoint_dir)
    if trained.get("dev_weight_stats"):
        return {}, backbones
    chunks = checkpoint.sentence_chunks(str(trained.get("train_variant") or ""))
    scores, model = dev_eval(checkpoint_dir, data_dir, chunks, examples, precision, backbones)
    trained["dev_weight_stats"] = scores["dev_weight_stats"]
    trained["dev_weight_stats_note"] = (
        f"measured after training by python -m training.dev_eval --record-weight-stats on the run's English dev rows "
        f"(the first {scores['dev_examples']}, {scores['form']}, {scores['precision']}); dev accuracy there "
        f"{scores['dev_accuracy']:.3f}")
    checkpoint.write_train_results(checkpoint_dir, trained)
    return {"checkpoint": str(checkpoint_dir), "dev_weight_stats": scores["dev_weight_stats"],
            "dev_accuracy": scores["dev_accuracy"], "recorded_dev_accuracy": trained.get("dev_accuracy")}, model


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.dev_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="exported bridges (training.export), each with train_results.json")
    p.add_argument("--data-dir", required=True, help="the benchmark data folder training read")
    p.add_argument("--sentence-chunks", type=int, default=0, help="score runs of at most N sentences (0: whole texts)")
    p.add_argument("--examples", type=int, default=300, help="dev rows scored (the first N, as in training)")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--record-weight-stats", action="store_true",
                   help="write the per-token layer weight statistics into each bridge's train_results.json where "
                        "training did not record them (scored in the run's own form; --sentence-chunks is ignored)")
    args = p.parse_args(argv)
    if args.examples < 1:
        p.error(f"--examples must be at least 1 (got {args.examples})")
    with exit_on_user_error():
        model = None
        for ckpt in args.checkpoints:
            if args.record_weight_stats:
                written, model = record_weight_stats(ckpt, args.data_dir, args.examples, args.precision, model)
                print(json.dumps(written or {"checkpoint": ckpt, "dev_weight_stats": "already recorded"}), flush=True)
                continue
            scores, model = dev_eval(ckpt, args.data_dir, args.sentence_chunks, args.examples, args.precision, model)
            print(json.dumps(scores), flush=True)


if __name__ == "__main__":
    main()
