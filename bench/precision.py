"""bfloat16 against float32, side by side in one run (fusion.precision): the frozen backbones in each precision,
the bridge, optimizer and loss in float32 in both.

1. matmul peak of this CPU/GPU in each dtype (the limit the training step is measured against);
2. training: two runs from the same bridge initialisation on the same batches (English NLI training rows, batch 8),
   their steps interleaved; examples/s (bar >= 1.7x), the loss curves (plotted; within run-to-run noise: the
   bf16-vs-fp32 gap is compared with the gap between two float32 runs of different seeds), and each step's
   achieved GFLOP/s (torch.utils.flop_counter) against the peak in its dtype;
3. evaluation: the same trained-bridge checkpoint scores the shared XNLI and Sinhala news samples in both
   precisions, batches interleaved; examples/s (bar >= 1.7x), decision agreement (>= 97%), accuracy gap (<= 1 point).

    .venv/bin/python bench/precision.py                      # pocket, CPU, 2 threads
    .venv/bin/python bench/precision.py --preset tiny --steps 6 --xnli-per-language 2 --news 8 \
        --checkpoint <tiny nli bridge> --news-checkpoint <tiny news bridge>
"""
import json
import random
import statistics
import time

import torch

from common import BENCHDATA, REPO, header, parser, setup, table, timed, verdicts
from training.plots import trailing_mean


def matmul_peak(dtype, device, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an n x n @ n x n matmul in `dtype` (best of reps)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b
    best = min(timed(lambda: a @ b, device) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def step_flops(model, texts, targets) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        model(texts, targets).backward()
    model.bridge.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def training(args, device, batches):
    """Two runs (float32, bfloat16) from the SAME bridge initialisation + a float32 run from another initialisation
    (the run-to-run noise reference), on the same batches, steps interleaved. Optimiser, schedule (5% warm-up,
    cosine) and gradient clipping as training.train uses them."""
    from transformers import get_cosine_schedule_with_warmup

    from fusion import FusedModel
    from fusion.strategies import Bridge
    runs = {}
    for name, dtype, seed in (("float32", "float32", 0), ("bfloat16", "bfloat16", 0), ("float32 seed 1", "float32", 1)):
        model = FusedModel.from_preset(args.preset, strategy=args.strategy, device=device, dtype=dtype)
        torch.manual_seed(seed)  # the bridge's initialisation depends on the seed only, not on the backbones' loading
        model.bridge.load_state_dict(Bridge(model.config).state_dict())
        model.train()
        opt = torch.optim.AdamW(model.bridge.param_groups(args.lr, 2e-5), lr=args.lr)
        schedule = get_cosine_schedule_with_warmup(opt, max(1, args.steps // 20), args.steps)
        runs[name] = dict(model=model, opt=opt, schedule=schedule, losses=[], seconds=[])
    flops = {name: step_flops(r["model"], *batches[0]) for name, r in runs.items() if name != "float32 seed 1"}
    for step in range(args.steps):
        texts, targets = batches[step % len(batches)]
        for name in (list(runs) if step % 2 == 0 else list(runs)[::-1]):
            r = runs[name]

            def one_step():
                loss = r["model"](texts, targets)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(r["model"].trainable_parameters(), 1.0)
                r["opt"].step()
                r["schedule"].step()
                r["opt"].zero_grad()
                r["losses"].append(loss.item())
            r["seconds"].append(timed(one_step, device))
    return runs, flops


def plot_losses(runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, r in runs.items():
        ax.plot(trailing_mean(r["losses"], 20), label=f"{name} (20-step mean)")
    ax.set_xlabel("step"), ax.set_ylabel("training loss"), ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluation(args, device):
    """Both precisions score the same examples (batches interleaved): seconds, decisions, accuracy."""
    from eval.classification import load_examples
    from tasks import get_task
    from fusion import FusedModel
    out = {}
    for task_name, checkpoint, limit in (("xnli", args.checkpoint, args.xnli_per_language),
                                         ("sinhala_news", args.news_checkpoint, args.news)):
        task = get_task(task_name)
        examples, _ = load_examples(task, ["si"] if task_name == "sinhala_news" else task.languages, BENCHDATA, limit)
        models = {p: FusedModel.from_pretrained(checkpoint, device=device, dtype=p) for p in ("float32", "bfloat16")}
        seconds, preds, margins = {p: 0.0 for p in models}, {p: [] for p in models}, []
        for start in range(0, len(examples), 16):
            batch = examples[start:start + 16]
            for p in (list(models) if (start // 16) % 2 == 0 else list(models)[::-1]):
                t = time.perf_counter()
                res = models[p].classify([e["prompt"] for e in batch], task.targets, batch_size=16)
                seconds[p] += time.perf_counter() - t
                preds[p] += [r["pred"] for r in res]
                if p == "float32":  # log-likelihood gap between the best two choices: how close the decision was
                    margins += [float(sorted(r["loglik"])[-1] - sorted(r["loglik"])[-2]) for r in res]
        gold = [e["gold"] for e in examples]
        out[task_name] = dict(n=len(examples), seconds=seconds, preds=preds, margins=margins,
                              acc={p: sum(a == g for a, g in zip(preds[p], gold)) / len(gold) for p in models})
    return out


def report_training(args, device, peak) -> list:
    from tasks.data import load_train
    from tasks import get_task
    task = get_task("xnli")
    rows = load_train(task, data_dir=BENCHDATA)
    rng = random.Random(0)
    batches = [rng.sample(rows, 8) for _ in range(args.steps)]
    batches = [([task.prompt(r) for r in b], [task.targets[r["label"]] for r in b]) for b in batches]
    runs, flops = training(args, device, batches)
    step_s = {n: statistics.median(r["seconds"]) for n, r in runs.items()}
    train_ratio = step_s["float32"] / step_s["bfloat16"]
    rows_ = [[n, f"{1000 * step_s[n]:.0f}", f"{8 / step_s[n]:.2f}",
              f"{flops[n] / 1e9:.1f}" if n in flops else "-",
              f"{flops[n] / step_s[n] / 1e9:.0f} ({100 * flops[n] / step_s[n] / 1e9 / peak[n]:.0f}% of peak)" if n in flops else "-"]
             for n in runs]
    print(table(rows_, ["training run", "median step ms", "examples/s", "GFLOP/step", "achieved GFLOP/s"]))
    last = max(1, args.steps // 4)  # compare the curves over the last quarter, 20-step means
    gap = lambda a, b: statistics.fmean(abs(x - y) for x, y in zip(trailing_mean(runs[a]["losses"], 20)[-last:], trailing_mean(runs[b]["losses"], 20)[-last:]))
    precision_gap, seed_gap = gap("float32", "bfloat16"), gap("float32", "float32 seed 1")
    print(f"loss curves, last {last} steps (20-step means): |bf16 - fp32| = {precision_gap:.3f}; "
          f"|fp32 seed 0 - fp32 seed 1| (run-to-run noise) = {seed_gap:.3f}")
    plot = REPO / "bench" / f"precision_loss_curves_{args.preset}.png"  # per preset: a tiny smoke run keeps pocket's
    plot_losses(runs, plot)
    curves = {n: {"losses": r["losses"], "step_seconds": r["seconds"]} for n, r in runs.items()}  # the plot's data
    plot.with_suffix(".json").write_text(json.dumps(dict(preset=args.preset, steps=args.steps, batch=8, runs=curves,
                                                         precision_gap=precision_gap, seed_gap=seed_gap)))
    print(f"loss curves plotted: {plot.relative_to(REPO)} (data: {plot.with_suffix('.json').name})")
    return [("training throughput bf16 / fp32", train_ratio, 1.7, True),
            ("loss-curve gap / seed-to-seed gap", precision_gap / max(seed_gap, 1e-9), 1.0, False)]


def report_evaluation(args, device) -> list:
    results = []
    for name, e in evaluation(args, device).items():
        agree = sum(a == b for a, b in zip(e["preds"]["float32"], e["preds"]["bfloat16"])) / e["n"]
        print(f"{name}: n={e['n']}, fp32 {e['seconds']['float32']:.1f} s, bf16 {e['seconds']['bfloat16']:.1f} s; "
              f"accuracy fp32 {100 * e['acc']['float32']:.1f}, bf16 {100 * e['acc']['bfloat16']:.1f}; agreement {100 * agree:.1f}%")
        flipped = [m for m, a, b in zip(e["margins"], e["preds"]["float32"], e["preds"]["bfloat16"]) if a != b]
        for cut in (0.1, 0.25):
            kept = [a == b for m, a, b in zip(e["margins"], e["preds"]["float32"], e["preds"]["bfloat16"]) if m >= cut]
            print(f"  (info) agreement where float32's best two choices are >= {cut} nats apart: "
                  f"{100 * sum(kept) / max(1, len(kept)):.1f}% of {len(kept)}")
        if flipped:
            print(f"  (info) the {len(flipped)} changed decisions: float32 margin median {statistics.median(flipped):.3f}, "
                  f"max {max(flipped):.3f} nats (all examples: median {statistics.median(e['margins']):.3f})")
        results += [(f"{name} eval throughput bf16 / fp32", e["seconds"]["float32"] / e["seconds"]["bfloat16"], 1.7, True),
                    (f"{name} decision agreement", 100 * agree, 97, True, "%"),
                    (f"{name} accuracy gap", 100 * abs(e["acc"]["float32"] - e["acc"]["bfloat16"]), 1.0, False, " points")]
    return results


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--strategy", default="transformer-softmax")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "pocket-nli-last"),
                   help="a trained NLI bridge (scores XNLI)")
    p.add_argument("--news-checkpoint", default=str(REPO / "checkpoints" / "pocket-news-sent-last"),
                   help="a trained news bridge (scores Sinhala news)")
    p.add_argument("--xnli-per-language", type=int, default=40)
    p.add_argument("--news", type=int, default=500)
    p.add_argument("--parts", nargs="+", default=["training", "evaluation"], choices=["training", "evaluation"])
    args = p.parse_args()
    device = setup(args)
    header(f"bfloat16 vs float32 ({args.preset}, {args.strategy})", device)

    peak = {d: matmul_peak(getattr(torch, d), device) for d in ("float32", "bfloat16")}
    print(f"matmul peak (2048^3): float32 {peak['float32']:.0f} GFLOP/s, bfloat16 {peak['bfloat16']:.0f} GFLOP/s "
          f"({peak['bfloat16'] / peak['float32']:.2f}x)")

    results = []
    if "training" in args.parts:
        results += report_training(args, device, peak)
    if "evaluation" in args.parts:
        results += report_evaluation(args, device)
    raise SystemExit(verdicts(results))


if __name__ == "__main__":
    main()
