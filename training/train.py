"""English-only training of the bridge: `python -m training.train` (CPU, one GPU, or `accelerate launch` on many).

Only fusion + mapping + boundary train; the encoder and LLM stay frozen. The data order is a pure function of
(seed, step) (training.data), so a run resumed from its last checkpoint neither repeats nor skips examples, and
checkpoints hold only safetensors and JSON, optimizer state included (training.run_dir). The bridge that ships is
chosen on English dev (training.selection); its card is written from what the run stores (fusion.model_card).

    python -m training.train --preset pocket --strategy global-softmax --task nli \
        --data-dir ../shared/benchdata --output-dir runs/nli-gs --max-steps 200
"""
import json
import math
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from fusion import backbones, checkpoint, model_card
from fusion.errors import exit_on_user_error
from fusion.model import FusedModel
from tasks import get_task

from .args import TrainArgs, effective_fusion_lr, fusion_config, parse_args, recipe
from .averaging import WeightAverage
from .data import batch_indices, prepare_data
from .plots import plot_learning_curve
from .run_dir import RunDir
from .selection import DevSelection


def build_model(args: TrainArgs, device) -> FusedModel:
    return FusedModel.from_config(fusion_config(args), device=device, dtype=args.precision)


def train(args: TrainArgs) -> Path:
    """Train (or resume) and return the output directory holding the final checkpoint."""
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    task = get_task(args.task)
    train_rows, dev_rows = prepare_data(args, task)
    acc = Accelerator(cpu=not torch.cuda.is_available())  # CPU-only machines: gloo across processes
    run = RunDir(args.output_dir, args.keep_checkpoints, main=acc.is_main_process)
    torch.manual_seed(args.seed)
    model = build_model(args, acc.device)
    optimizer = torch.optim.AdamW(model.bridge.param_groups(args.lr, args.temperature_lr, effective_fusion_lr(args)), lr=args.lr,
                                  weight_decay=args.weight_decay)
    average = WeightAverage(model.bridge, args.ema_decay) if args.ema_decay else None
    global_batch = args.batch_size * acc.num_processes
    total = args.max_steps or max(1, math.ceil(args.epochs * (len(train_rows) // global_batch)))
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(args.warmup_ratio * total), total)
    selection = DevSelection(args, task, dev_rows, run)
    start = resume(run, model, optimizer, scheduler, average, selection, acc)
    wrapped, optimizer = acc.prepare(model, optimizer)
    acc.print(f"task {task.name}: {len(train_rows)} training examples, {len(dev_rows)} dev; precision "
              f"{model.precision}; {total} steps of {global_batch} on {acc.num_processes} process(es); "
              f"{model.num_trainable_parameters():,} trainable parameters")

    stopped = selection.tracker["stop_reason"] is not None          # an earlier run had already stopped early
    bar = tqdm(range(start, total), initial=start, total=total, desc="train",
               disable=stopped or not acc.is_main_process)
    t0, seconds_before, last_step = time.time(), selection.tracker.get("train_seconds", 0.0), start
    model.train()
    for step in ([] if stopped else bar):
        torch.manual_seed(args.seed * 1_000_003 + step * 101 + acc.process_index)  # dropout: a function of the step
        idx = batch_indices(step, len(train_rows), global_batch, args.seed)
        mine = idx[acc.process_index * args.batch_size:(acc.process_index + 1) * args.batch_size]
        rows = [train_rows[i] for i in mine]
        loss = wrapped([task.prompt(r) for r in rows], [task.targets[r["label"]] for r in rows])
        acc.backward(loss)
        if args.grad_clip:
            acc.clip_grad_norm_(model.trainable_parameters(), args.grad_clip)
        optimizer.step()
        if average is not None:
            average.update()
        scheduler.step()
        optimizer.zero_grad()
        last_step = step + 1
        mean_loss = acc.reduce(loss.detach(), reduction="mean").item()
        bar.set_postfix(loss=f"{mean_loss:.3f}")
        if acc.is_main_process and last_step % args.log_every == 0:
            run.log(step_record(model, last_step, mean_loss, scheduler.get_last_lr()[0], time.time() - t0))
        stop = selection.due(last_step) and selection.evaluate(model, last_step, acc, average)
        if last_step % args.save_every == 0 or last_step == total or stop:
            selection.tracker["train_seconds"] = round(seconds_before + time.time() - t0, 1)  # over resumed runs
            if acc.is_main_process:
                run.save(model, optimizer, {"step": last_step, "args": asdict(args), "total_steps": total,
                                            "tracker": selection.tracker}, average)
            acc.wait_for_everyone()
        if stop:
            acc.print(f"stopping at step {last_step}: {selection.tracker['stop_reason']}")
            break
    bar.close()
    model.train(False)
    if acc.is_main_process:
        ship(model, run, selection, average, args, total, {
            "resumed_from": start, "trained_steps": last_step, "train_examples": len(train_rows),
            "global_batch": global_batch, "processes": acc.num_processes,
            "train_seconds_this_run": round(time.time() - t0, 1)})
    acc.wait_for_everyone()
    acc.end_training()
    return run.path


def resume(run: RunDir, model, optimizer, scheduler, average, selection: DevSelection, acc) -> int:
    """Continue from the run's newest training checkpoint, if any: the bridge, optimizer, weight average, dev
    selection and schedule as they were. The log lines past it are dropped (they are done again). The start step."""
    meta = run.resume(model, optimizer, average)
    start = int(meta["step"]) if meta else 0
    if meta:
        selection.tracker.update(meta.get("tracker", {}))
        with warnings.catch_warnings():  # fast-forwarding the schedule without optimizer steps is intended here
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            for _ in range(start):
                scheduler.step()
        acc.print(f"resuming from {meta['path']} at step {start}")
    if acc.is_main_process:
        run.truncate_log(start)
    return start


def step_record(model, step: int, loss: float, lr: float, elapsed: float) -> dict:
    """A step's line of the log; with the layer weights of a strategy whose weights every token shares."""
    record = {"step": step, "loss": round(loss, 5), "lr": lr, "elapsed_s": round(elapsed, 2)}
    shared = getattr(model.bridge.fusion, "layer_weights", None)
    if shared is not None:
        record["layer_weights"] = [round(w, 5) for w in shared().tolist()]
    return record


def ship(model, run: RunDir, selection: DevSelection, average, args: TrainArgs, total: int, counts: dict):
    """Main process: the bridge that ships (the best on English dev, else the weight average or the last weights),
    its English dev scores, train_results.json, the learning curve and the model card, into the run's directory."""
    tracker = selection.tracker
    if tracker["stop_reason"] is None:
        tracker["stop_reason"] = f"reached the maximum of {total} steps"
    if args.eval_every and tracker["best_step"] is not None:
        checkpoint.load_bridge(run.best, model.bridge)
        final = tracker["best"]                                    # scored on the same dev rows when it was kept
    else:
        if average is not None:
            model.bridge.load_state_dict(average.averaged.module.state_dict())
        final = selection.score(model) or {}
    summary = {"task": selection.task.name, "strategy": args.strategy,
               "steps": tracker["best_step"] or counts["trained_steps"], "trained_steps": counts["trained_steps"],
               "max_steps": total, "stop_reason": tracker["stop_reason"], "resumed_from": counts["resumed_from"],
               "seed": args.seed, "precision": model.precision, "train_examples": counts["train_examples"],
               "global_batch": counts["global_batch"], "train_variant": checkpoint.data_variant(args.sentence_chunks),
               "dev_accuracy": final.get("dev_accuracy"), "dev_loss": final.get("dev_loss"),
               "dev_examples": final.get("dev_examples", 0), "dev_layer_mix": final.get("dev_layer_mix"),
               "dev_weight_stats": final.get("dev_weight_stats"), "recipe": recipe(args),
               "train_seconds_this_run": counts["train_seconds_this_run"],
               "train_seconds_total": tracker.get("train_seconds"), "hardware": backbones.hardware(),
               "processes": counts["processes"], "trainable_parameters": model.num_trainable_parameters()}
    if args.eval_every:
        plot_learning_curve(run.records(), run.path / checkpoint.CURVE_FILE,
                            f"{selection.task.name} / {args.strategy} / seed {args.seed}", tracker["best_step"])
    shared = getattr(model.bridge.fusion, "layer_weights", None)
    if shared is not None:
        summary["layer_weights"] = [round(w, 4) for w in shared().tolist()]
    summary["args"] = asdict(args)
    model.save_pretrained(run.path)
    checkpoint.write_train_results(run.path, summary)
    checkpoint.write_card(run.path, model_card.card(run.path, selection.task))
    print(json.dumps(summary))


def main(argv=None):
    with exit_on_user_error():
        train(parse_args(argv, description=__doc__.split("\n\n")[0]))


if __name__ == "__main__":
    main()
