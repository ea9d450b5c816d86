"""Train the encoder-alone baseline (fusion.probe) on a task's English data, C chosen on English dev:

    python -m training.train_probe --preset pocket --task topic --data-dir ../shared/benchdata \
        --output-dir checkpoints/probe-pocket-topic --balance false

The training and dev rows are exactly those `python -m training.train` uses with the same options (prepare_data).
"""
import argparse
import json
import time
from pathlib import Path

from fusion import backbones, checkpoint, model_card
from fusion.errors import exit_on_user_error
from fusion.presets import PRESETS
from fusion.probe import EncoderProbe
from tasks import get_task

from .args import TrainArgs
from .data import prepare_data


def train_probe(preset: str, task_name: str, output_dir, data_dir=None, train_file=None, dev_file=None,
                balance: bool = True, max_train_examples: int = 100_000, seed: int = 0, precision: str = "auto",
                device=None, sentence_chunks: int = 0) -> dict:
    """sentence_chunks > 0: train and choose C on runs of at most that many sentences of each text, exactly as
    `training.train --sentence-chunks` does (the same rows), so that a probe can be the baseline of such a bridge."""
    task = get_task(task_name)
    args = TrainArgs(task=task.name, data_dir=data_dir, train_file=train_file, dev_file=dev_file, balance=balance,
                     max_train_examples=max_train_examples, seed=seed, sentence_chunks=sentence_chunks)
    train, dev = prepare_data(args, task)
    t0 = time.time()
    probe = EncoderProbe.from_preset(preset, device=device, dtype=precision, task=task.name)
    record = probe.fit([task.prompt(r) for r in train], [r["label"] for r in train],
                       [task.prompt(r) for r in dev], [r["label"] for r in dev], task.targets, seed=seed)
    out = Path(output_dir)
    probe.save_pretrained(out)
    summary = {"task": task.name, "kind": "probe", "preset": preset, "encoder": probe.config.encoder, **record,
               "seed": seed, "precision": probe.precision, "balance": balance,
               "train_variant": checkpoint.data_variant(sentence_chunks), "hardware": backbones.hardware(),
               "seconds": round(time.time() - t0, 1),
               "args": dict(preset=preset, task=task_name, data_dir=data_dir, train_file=train_file, dev_file=dev_file,
                            balance=balance, max_train_examples=max_train_examples, seed=seed, precision=precision,
                            sentence_chunks=sentence_chunks)}
    checkpoint.write_train_results(out, summary)
    checkpoint.write_card(out, model_card.card(out, task))
    return summary


def main(argv=None):
    from transformers.hf_argparser import string_to_bool   # as training.train reads it: `ture` is refused
    p = argparse.ArgumentParser(prog="python -m training.train_probe", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="pocket", choices=list(PRESETS))
    p.add_argument("--task", required=True, help="a task or family name (nli, news, sentiment, topic)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--data-dir")
    p.add_argument("--train-file")
    p.add_argument("--dev-file")
    p.add_argument("--balance", default=True, type=string_to_bool,
                   help="class-balanced training subset (true/false), as training.train")
    p.add_argument("--max-train-examples", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    p.add_argument("--sentence-chunks", type=int, default=0,
                   help="train and score dev on runs of at most N sentences of each text, as training.train (0: off)")
    a = p.parse_args(argv)
    if a.sentence_chunks < 0:
        p.error(f"--sentence-chunks must be 0 or more (got {a.sentence_chunks})")
    with exit_on_user_error():
        summary = train_probe(a.preset, a.task, a.output_dir, a.data_dir, a.train_file, a.dev_file, a.balance,
                              a.max_train_examples, a.seed, a.precision, sentence_chunks=a.sentence_chunks)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
