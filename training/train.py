"""English-only training of the bridge: `python -m training.train` (CPU, one GPU, or `accelerate launch` on many).

Only fusion + mapping + boundary train; the encoder and LLM stay frozen. The data order is a pure function of
(seed, step), so a run resumed from its last checkpoint neither repeats nor skips examples, and checkpoints
hold only safetensors and JSON (optimizer state included).

    python -m training.train --preset pocket --strategy global-softmax --task nli \
        --data-dir ../shared/benchdata --output-dir runs/nli-gs --max-steps 200
"""
import argparse
import contextlib
import json
import math
import random
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from fusion import backbones, checkpoint
from fusion.config import STRATEGIES
from fusion.errors import ConfigError, DataError, LayerBridgeError
from fusion.model import FusedModel
from fusion.presets import PRESETS, preset_config
from fusion.weight_stats import weight_stats
from tasks import get_task
from tasks.data import balanced, load_train, read_jsonl, sentence_chunks

from .averaging import WeightAverage

# a run's reports, beside its final checkpoint (training.export ships them with it)
METRICS_FILE, CURVE_FILE, RESULTS_FILE = "metrics.jsonl", "learning_curve.png", "train_results.json"


@dataclass
class TrainArgs:
    output_dir: str = "runs/bridge"
    preset: str = "pocket"
    encoder: str | None = None            # override the preset's encoder / LLM
    llm: str | None = None
    strategy: str = "transformer-softmax"
    layers: str | None = None             # comma-separated 1-based encoder layers to fuse; None = all
    layer_norm: bool = True
    mapping: str = "linear"
    max_encoder_length: int | None = None  # preset default when None
    task: str = "xnli"                     # a task or family name (nli, news, sentiment)
    train_file: str | None = None          # local JSON Lines; else --data-dir's file for the task; else the hub
    train_dataset: str | None = None       # a hub dataset id (split "train")
    dev_file: str | None = None
    data_dir: str | None = None
    max_train_examples: int = 100_000      # class-balanced subset
    dev_fraction: float = 0.1              # held out of the training file when there is no dev file
    sentence_chunks: int = 0               # > 0: train and score dev on runs of at most this many sentences of each
                                           # text (one example each) instead of whole texts; single-text tasks
    eval_examples: int = 200               # English dev examples scored (a fixed set; 0 = skip)
    eval_every: int = 0                    # score the dev set every N steps, keep the best bridge (0 = only at the end)
    patience: int = 0                      # stop after this many dev evaluations without improvement (0 = never)
    balance: bool = True                   # class-balanced subset of the training file (False: every example)
    precision: str = "auto"                # frozen backbones: auto | float32 | bfloat16 (fusion.precision)
    lr: float = 3e-5
    temperature_lr: float | None = None    # global softmax's temperature t (tau = 100 + 1e5 t); None = lr
    fusion_lr: float | None = None         # the fusion module's own parameters; None = lr (the mapping's)
    fusion_entropy_weight: float = 0.0     # loss - this x mean per-token layer-weight entropy (FusionConfig)
    transformer_last_layer_init: float = 0.0  # transformer softmax: initial logit of the last layer (FusionConfig)
    ema_decay: float = 0.0                 # > 0: dev-score and ship an exponential moving average of the bridge's
                                           # weights over the steps (e.g. 0.99), not the raw last weights
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    batch_size: int = 8                    # per process
    epochs: float = 3.0
    max_steps: int | None = None           # overrides epochs
    grad_clip: float = 1.0
    seed: int = 0
    save_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 1


# ---------------------------------------------------------------- data order

def batch_indices(step: int, n: int, global_batch: int, seed: int) -> list[int]:
    """Indices of the global batch at `step`: epoch e is a fixed permutation seeded by (seed, e); no last partial batch."""
    per_epoch = n // global_batch
    epoch, j = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    return order[j * global_batch:(j + 1) * global_batch]


def split_dev(rows: list[dict], fraction: float, seed: int):
    rng = random.Random(seed + 7)
    idx = list(range(len(rows)))
    rng.shuffle(idx)
    k = max(1, int(len(rows) * fraction))
    dev = set(idx[:k])
    return [r for i, r in enumerate(rows) if i not in dev], [rows[i] for i in sorted(dev)]


def train_variant(sentence_chunks: int) -> str:
    """How the training (and dev) texts depart from the task's whole texts: "sentences<=N", or "" for none."""
    return f"sentences<={sentence_chunks}" if sentence_chunks > 0 else ""


def train_variant_note(sentence_chunks: int) -> str:
    """The model card's words for train_variant, appended to its training data line ("" for none)."""
    variant = train_variant(sentence_chunks)
    return f" ({variant}: each text cut into runs of at most {sentence_chunks} sentences)" if variant else ""


def prepare_data(args: TrainArgs, task):
    """Training and dev rows, checked before any training step (bad files stop here with a clear message)."""
    rows = load_train(task, train_file=args.train_file, data_dir=args.data_dir, hub_id=args.train_dataset)
    if args.dev_file:
        dev = read_jsonl(args.dev_file, task)
    elif args.data_dir and task.dev_local and not args.train_file:
        dev = read_jsonl(Path(args.data_dir) / task.dev_local, task, lang=task.english)
    else:
        rows, dev = split_dev(rows, args.dev_fraction, args.seed)
    if args.balance:
        train = balanced(rows, len(task.choices), args.max_train_examples, args.seed)
    else:
        train = rows[:args.max_train_examples]
        random.Random(args.seed).shuffle(train)
    if args.sentence_chunks > 0:  # after the split and balancing by text: no text is both trained on and dev
        if len(task.text_fields) != 1:
            raise ConfigError(f"--sentence-chunks needs a task with one text field; {task.name} has "
                              f"{', '.join(task.text_fields)}")
        field = task.text_fields[0]
        train = sentence_chunks(train, field, args.sentence_chunks)   # longer texts give more chunks: rebalance
        if args.balance:
            train = balanced(train, len(task.choices), args.max_train_examples, args.seed)
        else:
            random.Random(args.seed).shuffle(train)
        dev = sentence_chunks(dev, field, args.sentence_chunks)
        random.Random(args.seed + 1).shuffle(dev)   # the dev rows scored (the first eval_examples) span many texts
    if len(train) < args.batch_size:
        raise DataError(f"only {len(train)} class-balanced training examples; need at least one batch "
                        f"({args.batch_size}). Check that every label occurs in the training file.")
    return train, dev


# ---------------------------------------------------------------- checkpoints (safetensors + JSON only)

def save_state(model, optimizer, step: int, args: TrainArgs, out: Path, extra: dict, average=None):
    """out/checkpoint-<step>/ (fusion.checkpoint's bridge + training state), written beside and renamed into place;
    only the newest `keep_checkpoints` are kept."""
    ckpt = out / f"checkpoint-{step}"
    tmp = out / f".tmp-checkpoint-{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    checkpoint.save_training_state(tmp, optimizer, {"step": step, "args": asdict(args), **extra},
                                   ema=average.state_dict() if average is not None else None)
    shutil.rmtree(ckpt, ignore_errors=True)
    tmp.rename(ckpt)
    for p in training_checkpoints(out)[:-args.keep_checkpoints]:
        shutil.rmtree(p, ignore_errors=True)


def training_checkpoints(out: Path) -> list[Path]:
    return sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))


def load_state(model, optimizer, ckpt: Path, average=None) -> dict:
    """Resume: the bridge (with from_pretrained's key and shape checks), the optimizer and the weight average;
    trainer_state.json."""
    checkpoint.load_bridge(ckpt, model.bridge)
    ema = checkpoint.read_ema(ckpt)
    if average is not None and ema is not None:
        average.load_state_dict(ema)
    return checkpoint.load_training_state(ckpt, optimizer)


# ---------------------------------------------------------------- the loop

def build_model(args: TrainArgs, device) -> FusedModel:
    overrides = dict(strategy=args.strategy, layer_norm=args.layer_norm, mapping=args.mapping,
                     fusion_entropy_weight=args.fusion_entropy_weight,
                     transformer_last_layer_init=args.transformer_last_layer_init)
    for key in ("encoder", "llm", "max_encoder_length"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.layers:
        try:
            overrides["layers"] = [int(x) for x in str(args.layers).split(",")]
        except ValueError as e:
            raise ConfigError(f"--layers takes comma-separated layer numbers such as 6,9,12, not {args.layers!r}") from e
    return FusedModel.from_config(preset_config(args.preset, **overrides), device=device, dtype=args.precision)


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


def improves(new: dict, best: dict | None) -> bool:
    """Dev accuracy at least as high as the best so far: at equal accuracy the later bridge wins (it has trained
    longer, at the lower learning rate the schedule has reached). Decided before any run was scored on a test set."""
    return best is None or new["dev_accuracy"] >= best["dev_accuracy"]


def train(args: TrainArgs, _interrupt_at: int | None = None) -> Path:
    """Train (or resume) and return the output directory holding the final checkpoint."""
    from accelerate import Accelerator
    from transformers import get_cosine_schedule_with_warmup

    task = get_task(args.task)
    train_rows, dev_rows = prepare_data(args, task)
    acc = Accelerator(cpu=not torch.cuda.is_available())  # CPU-only machines: gloo across processes
    out = Path(args.output_dir)
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    model = build_model(args, acc.device)
    bridge = model.bridge
    optimizer = torch.optim.AdamW(bridge.param_groups(args.lr, args.temperature_lr, args.fusion_lr), lr=args.lr,
                                  weight_decay=args.weight_decay)
    average = WeightAverage(bridge, args.ema_decay) if args.ema_decay else None

    global_batch = args.batch_size * acc.num_processes
    per_epoch = len(train_rows) // global_batch
    total = args.max_steps or max(1, math.ceil(args.epochs * per_epoch))
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(args.warmup_ratio * total), total)

    start, tracker = 0, {"best": None, "best_step": None, "bad_evals": 0, "stop_reason": None, "train_seconds": 0.0}
    ckpts = training_checkpoints(out)
    if ckpts:
        ckpt = ckpts[-1]
        meta = load_state(model, optimizer, ckpt, average)
        start = int(meta["step"])
        tracker.update(meta.get("tracker", {}))
        with warnings.catch_warnings():  # fast-forwarding the schedule without optimizer steps is intended here
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            for _ in range(start):
                scheduler.step()
        acc.print(f"resuming from {ckpt} at step {start}")
    wrapped, optimizer = acc.prepare(model, optimizer)
    metrics_path = out / METRICS_FILE
    if acc.is_main_process:  # drop log lines past the checkpoint we resume from
        kept = [l for l in (metrics_path.read_text().splitlines() if metrics_path.exists() else [])
                if json.loads(l).get("step", 0) <= start]
        metrics_path.write_text("".join(l + "\n" for l in kept))
    acc.print(f"task {task.name}: {len(train_rows)} training examples, {len(dev_rows)} dev; precision "
              f"{model.precision}; "
              f"{total} steps of {global_batch} on {acc.num_processes} process(es); "
              f"{model.num_trainable_parameters():,} trainable parameters")

    from tqdm.auto import tqdm
    bar = tqdm(range(start, total), initial=start, total=total, disable=not acc.is_main_process, desc="train")
    t0 = time.time()
    model.train()
    last_step, seconds_before = start, tracker.get("train_seconds", 0.0)
    if tracker["stop_reason"] is not None:  # the run had already stopped early
        bar.close()
        bar = []
    for step in bar:
        last_step = step + 1
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
        mean_loss = acc.reduce(loss.detach(), reduction="mean").item()
        bar.set_postfix(loss=f"{mean_loss:.3f}")
        if acc.is_main_process and (step + 1) % args.log_every == 0:
            record = {"step": step + 1, "loss": round(mean_loss, 5), "lr": scheduler.get_last_lr()[0],
                      "elapsed_s": round(time.time() - t0, 2)}
            if hasattr(bridge.fusion, "layer_weights"):
                record["layer_weights"] = [round(w, 5) for w in bridge.fusion.layer_weights().tolist()]
            with metrics_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        stop = False
        if args.eval_every and (step + 1) % args.eval_every == 0:
            stop = evaluate_dev(model, task, dev_rows, args, step + 1, out, tracker, metrics_path, acc, average)
        if (step + 1) % args.save_every == 0 or step + 1 == total or stop:
            tracker["train_seconds"] = round(seconds_before + time.time() - t0, 1)  # over all resumed runs
            if acc.is_main_process:
                save_state(model, optimizer, step + 1, args, out, {"total_steps": total, "tracker": tracker}, average)
            acc.wait_for_everyone()
        if stop:
            acc.print(f"stopping at step {step + 1}: {tracker['stop_reason']}")
            break
        if _interrupt_at is not None and step + 1 == _interrupt_at:
            raise KeyboardInterrupt(f"simulated interruption after step {step + 1}")
    train_s = time.time() - t0
    model.train(False)
    if acc.is_main_process:
        trained_steps = last_step
        if tracker["stop_reason"] is None:
            tracker["stop_reason"] = f"reached the maximum of {total} steps"
        if args.eval_every and tracker["best_step"] is not None:  # ship the best bridge seen on English dev
            checkpoint.load_bridge(out / "best", model.bridge)
            final = tracker["best"]                                # scored on the same dev rows when it was kept
        else:
            if average is not None:                                # ship the averaged weights
                bridge.load_state_dict(average.averaged.module.state_dict())
            final = dev_metrics(model, task, dev_rows, args.eval_examples) or {}
        summary = {"task": task.name, "strategy": args.strategy, "steps": tracker["best_step"] or trained_steps,
                   "trained_steps": trained_steps, "max_steps": total, "stop_reason": tracker["stop_reason"],
                   "resumed_from": start, "seed": args.seed, "precision": model.precision,
                   "train_examples": len(train_rows), "global_batch": global_batch,
                   "train_variant": train_variant(args.sentence_chunks),
                   "dev_accuracy": final.get("dev_accuracy"), "dev_loss": final.get("dev_loss"),
                   "dev_examples": final.get("dev_examples", 0), "dev_layer_mix": final.get("dev_layer_mix"),
                   "dev_weight_stats": final.get("dev_weight_stats"), "recipe": recipe(args),
                   "train_seconds_this_run": round(train_s, 1),
                   "train_seconds_total": tracker.get("train_seconds"),
                   "hardware": backbones.hardware(), "processes": acc.num_processes,
                   "trainable_parameters": model.num_trainable_parameters()}
        if args.eval_every:
            plot_learning_curve(metrics_path, out / CURVE_FILE, f"{task.name} / {args.strategy} / seed {args.seed}",
                                tracker["best_step"])
        if hasattr(bridge.fusion, "layer_weights"):
            summary["layer_weights"] = [round(w, 4) for w in bridge.fusion.layer_weights().tolist()]
        model.save_pretrained(out, model_card=model_card(args, model, task, summary))
        (out / RESULTS_FILE).write_text(json.dumps(summary, indent=1))
        acc.print(json.dumps(summary))
    acc.wait_for_everyone()
    acc.end_training()
    return out


def evaluate_dev(model, task, dev_rows, args, step, out: Path, tracker: dict, metrics_path: Path, acc,
                 average=None) -> bool:
    """Main process: score the fixed English dev set, keep the best bridge in out/best, count evaluations without
    improvement. Every process gets the stop decision (broadcast), so no rank waits on another."""
    from accelerate.utils import broadcast_object_list
    decision = [None]
    if acc.is_main_process:
        with average.swapped_in() if average is not None else contextlib.nullcontext():   # score what ships
            m = dev_metrics(model, task, dev_rows, args.eval_examples)
            if m is not None:
                with metrics_path.open("a") as f:
                    f.write(json.dumps({"step": step, **m}) + "\n")
                if improves(m, tracker["best"]):
                    tracker.update(best=m, best_step=step, bad_evals=0)
                    model.save_pretrained(out / "best")
                else:
                    tracker["bad_evals"] += 1
            if args.patience and tracker["bad_evals"] >= args.patience:
                tracker["stop_reason"] = (f"early stop: English dev accuracy did not improve on "
                                          f"{tracker['best']['dev_accuracy']:.3f} (step {tracker['best_step']}) in "
                                          f"{args.patience} evaluations ({args.patience * args.eval_every} steps)")
        decision = [dict(tracker)]
    broadcast_object_list(decision)
    tracker.update(decision[0])
    return tracker["stop_reason"] is not None and tracker["stop_reason"].startswith("early stop")


def recipe(args: TrainArgs) -> dict:
    """The training choices an ablation varies, as recorded in train_results.json and the model card."""
    return {"lr": args.lr, "fusion_lr": args.fusion_lr or args.lr, "fusion_entropy_weight": args.fusion_entropy_weight,
            "transformer_last_layer_init": args.transformer_last_layer_init, "ema_decay": args.ema_decay}


def trailing_mean(xs, k: int) -> list[float]:
    """The mean of each value and the k - 1 before it (fewer at the start)."""
    return [sum(xs[max(0, i - k + 1):i + 1]) / len(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]


def plot_learning_curve(metrics_path: Path, png: Path, title: str, best_step: int | None):
    """Training loss (and its 25-step moving mean) and English dev accuracy / loss over the steps, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records = [json.loads(l) for l in metrics_path.read_text().splitlines() if l.strip()]
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    dev = [(r["step"], r["dev_accuracy"], r["dev_loss"]) for r in records if "dev_accuracy" in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    if train:
        steps, losses = zip(*train)
        ax1.plot(steps, losses, color="0.75", lw=0.6, label="train loss (batch)")
        ax1.plot(steps, trailing_mean(losses, 25), color="C0", label="train loss (25-step mean)")
    if dev:
        ax1.plot([d[0] for d in dev], [d[2] for d in dev], "o-", color="C1", ms=3, label="dev loss (over choices)")
        ax2.plot([d[0] for d in dev], [d[1] for d in dev], "o-", color="C2", ms=3, label="English dev accuracy")
    if best_step:
        for ax in (ax1, ax2):
            ax.axvline(best_step, color="k", ls=":", lw=1, label=f"kept: step {best_step}")
    ax1.set_yscale("log")
    ax1.set_xlabel("step"), ax1.set_ylabel("loss (log scale)"), ax1.legend(fontsize=7)
    ax2.set_xlabel("step"), ax2.set_ylabel("accuracy"), ax2.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def model_card(args: TrainArgs, model: FusedModel, task, s: dict) -> str:
    cfg = model.config
    dev = "not measured" if s["dev_accuracy"] is None else f"{s['dev_accuracy']:.3f} (n={s['dev_examples']})"
    data = args.train_file or args.train_dataset or (f"{args.data_dir}/{task.train_local}" if args.data_dir else
                                                     f"hub: {task.train_hub.path if task.train_hub else '?'}")
    data += train_variant_note(args.sentence_chunks)
    stopped = "" if not s.get("stop_reason") else (
        f"\n- Kept the bridge of step {s['steps']} (best English dev accuracy, dev scored every {args.eval_every} steps); "
        f"trained {s['trained_steps']} of at most {s['max_steps']} steps; stopped: {s['stop_reason']}. "
        f"Learning curve: learning_curve.png")
    lw = f"\n- Final {cfg.strategy} layer weights (layers {model.bridge.layers}): {s['layer_weights']}" \
        if "layer_weights" in s else ""
    if s.get("dev_weight_stats"):
        ws = s["dev_weight_stats"]
        lw += (f"\n- Per-token layer weights on English dev ({ws['tokens']} tokens): mean entropy {ws['entropy']:.3f} "
               f"nats (max {ws['max_entropy']:.3f}), mean largest weight {ws['max_weight']:.3f}, variation across "
               f"the tokens of a text {ws['token_variation']:.3f} (total variation distance from the text's mean mix)")
    if s.get("dev_layer_mix"):
        mix = s["dev_layer_mix"]
        top = max(range(len(mix)), key=mix.__getitem__)
        lw += (f"\n- Layer mix on English dev (mean fusion weight per layer {model.bridge.layers}): {mix}; heaviest: "
               f"layer {model.bridge.layers[top]} ({mix[top]:.2f})")
    return f"""# LayerBridge bridge: {task.name} / {cfg.strategy}

A trained bridge (fusion + mapping + boundary, {s['trainable_parameters']:,} parameters) between the frozen
encoder `{cfg.encoder}` and the frozen LLM `{cfg.llm}`. Load with `FusedModel.from_pretrained(this_dir)`.

- Task: {task.name} ({task.description}); prompt `{task.template}` -> {', '.join(task.choices)}
- Training data: {data}, English only; {s['train_examples']} class-balanced examples
- Steps: {s['steps']} x global batch {s['global_batch']} ({s['processes']} process(es)); seed {args.seed}{stopped}
- Optimiser: AdamW lr {args.lr} (fusion lr {args.fusion_lr or args.lr}, temperature lr {args.temperature_lr or args.lr}),
  weight decay {args.weight_decay}, cosine schedule with {args.warmup_ratio:.0%} warm-up, grad clip {args.grad_clip}
- Fusion regularisation: entropy bonus {cfg.fusion_entropy_weight}; transformer-softmax last-layer logit init
  {cfg.transformer_last_layer_init}; weight average (EMA decay) {args.ema_decay or "none"}
- Encoder input: `{cfg.encoder_text_prefix}` + prompt, truncated at {cfg.max_encoder_length} tokens; layer norm before
  mixing: {cfg.layer_norm}; mapping: {cfg.mapping}
- Precision: frozen encoder and LLM in {s['precision']}; bridge, optimizer and loss in float32
- Hardware: {s['hardware']}; training time: {s.get('train_seconds_total') or s['train_seconds_this_run']} s in all
  (the last, possibly resumed, run: {s['train_seconds_this_run']} s)
- English dev accuracy: {dev}{lw}
"""


def _flag_type(f):
    """argparse type of a TrainArgs field ("int | None" -> int, "bool" -> parsed yes/no)."""
    name = str(f.type)
    if "bool" in name:
        return lambda s: s.lower() in ("1", "true", "yes", "on")
    return int if "int" in name else float if "float" in name else str


def parse_args(argv=None) -> TrainArgs:
    p = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="JSON file with any of the options below (the command line wins)")
    choices = {"strategy": STRATEGIES, "preset": list(PRESETS)}
    for f in fields(TrainArgs):
        p.add_argument("--" + f.name.replace("_", "-"), type=_flag_type(f), default=None, choices=choices.get(f.name),
                       help=f"default: {f.default}")
    ns = vars(p.parse_args(argv))
    config_file = ns.pop("config")
    values = {}
    if config_file:
        try:
            values = json.loads(Path(config_file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"cannot read the config file {config_file}: {e}") from e
        unknown = set(values) - {f.name for f in fields(TrainArgs)}
        if unknown:
            raise DataError(f"unknown keys in {config_file}: {sorted(unknown)}")
    values.update({k: v for k, v in ns.items() if v is not None})
    return TrainArgs(**values)


def main(argv=None):
    try:
        train(parse_args(argv))
    except LayerBridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
