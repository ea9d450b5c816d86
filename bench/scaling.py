"""Latency and throughput of `classify` (3 XNLI labels) against input length (encoder tokens, batch 1) and batch
size (64 encoder tokens), with the fused model's cost split into encoder, fusion (the bridge), LLM (backbone
passes + LM head) and other (tokenization, softmaxes, Python), from forward hooks (and wrappers on
fusion.scoring's head functions) during the classify calls; "loglik" scoring.
Writes a Markdown table and a PNG plot. No bar: descriptive.

    .venv/bin/python bench/scaling.py                         # pocket: bench/scaling_pocket_cpu.{md,png}
    .venv/bin/python bench/scaling.py --preset tiny --lengths 16 32 --batches 1 2 --out /tmp/scaling
"""
import statistics
from pathlib import Path

import torch

import common
from common import CallTimer, header, parser, setup, table, text_of_length

PARTS = ("encoder", "fusion", "LLM", "other")


def measure(model, timer, texts, choices, reps, device) -> dict:
    """Median ms per part and in total over `reps` classify calls (after one warm-up call)."""
    model.classify(texts, choices, batch_size=len(texts))
    rows = []
    for _ in range(reps):
        timer.reset()
        total = common.timed(lambda: model.classify(texts, choices, batch_size=len(texts)), device)
        c = timer.calls
        row = dict(encoder=sum(c["encoder"]), fusion=sum(c["bridge"]),
                   LLM=sum(c["backbone"]) + sum(c["head_rows"]) + sum(c["head_normalizer"]))
        row["other"] = total - sum(row.values())
        row["total"] = total
        rows.append(row)
    return {k: 1000 * statistics.median(r[k] for r in rows) for k in rows[0]}


def plot(path: Path, by_length: dict, by_batch: dict, title: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colors = dict(encoder="#4c72b0", fusion="#dd8452", LLM="#55a868", other="#8c8c8c")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, data, xlabel in ((axes[0], by_length, "input length (encoder tokens), batch 1"),
                             (axes[1], by_batch, "batch size (64 encoder tokens each)")):
        xs = list(data)
        bottom = [0.0] * len(xs)
        for part in PARTS:
            vals = [data[x][part] for x in xs]
            ax.bar([str(x) for x in xs], vals, bottom=bottom, label=part, color=colors[part])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xlabel(xlabel)
        ax.set_ylabel("latency per classify call (ms)")
        ax.legend()
    ax = axes[2]
    xs = list(by_batch)
    ax.plot([str(x) for x in xs], [1000 * x / by_batch[x]["total"] for x in xs], "o-", color="#55a868",
            label="classify throughput")
    ax.set_xlabel("batch size (64 encoder tokens each)")
    ax.set_ylabel("throughput (examples / s)")
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--strategy", default="transformer-softmax")
    p.add_argument("--lengths", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", help="output prefix for .md and .png (default bench/scaling_<preset>_<device>)")
    args = p.parse_args()
    device = setup(args)

    from tasks import get_task
    from fusion import FusedModel

    header(f"Scaling ({args.preset}, {args.strategy})", device)
    model = FusedModel.from_preset(args.preset, strategy=args.strategy, device=device, dtype=args.precision,
                                   max_encoder_length=max(args.lengths + [64]))
    choices = get_task("xnli").targets
    import fusion.scoring as scoring
    timer = CallTimer(device, encoder=model.encoder, bridge=model.bridge, backbone=model.llm.base_model)
    timer.wrap(scoring, "head_logits_at", "head_rows")          # the LM head is applied by these two functions
    timer.wrap(scoring, "head_logsumexp", "head_normalizer")
    prefix = model.config.encoder_text_prefix
    texts = {n: text_of_length(model.encoder_tokenizer, n, prefix=prefix) for n in sorted(set(args.lengths + [64]))}

    for _ in range(3):  # warm-up: first calls initialise kernels and caches
        model.classify([texts[64]] * 2, choices)
    by_length, by_batch = {}, {}
    for n in args.lengths:
        by_length[n] = measure(model, timer, [texts[n]], choices, args.reps, device)
        print(f"length {n}: {by_length[n]['total']:.1f} ms", flush=True)
    for b in args.batches:
        by_batch[b] = measure(model, timer, [texts[64]] * b, choices, args.reps, device)
        print(f"batch {b}: {by_batch[b]['total']:.1f} ms", flush=True)
    timer.remove()

    def rows(data, batch_of):
        out = []
        for x, m in data.items():
            b = batch_of(x)
            out.append([x, f"{m['total']:.1f}", f"{1000 * b / m['total']:.2f}",
                        *(f"{m[k]:.1f} ({100 * m[k] / m['total']:.0f}%)" for k in PARTS)])
        return out

    cols = ["latency ms", "examples/s", *(f"{k} ms" for k in PARTS)]
    md = (f"Machine: {common.machine(device)}; preset {args.preset}, strategy {args.strategy}, float32, "
          f"3 choices (XNLI labels), median of {args.reps} calls.\n\n"
          f"By input length (batch 1):\n\n{table(rows(by_length, lambda x: 1), ['encoder tokens', *cols])}\n\n"
          f"By batch size (64 encoder tokens each):\n\n{table(rows(by_batch, lambda x: x), ['batch', *cols])}\n")
    out = Path(args.out) if args.out else common.REPO / "bench" / f"scaling_{args.preset}_{args.device}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    plot(out.with_suffix(".png"), by_length, by_batch,
         f"LayerBridge {args.preset} ({args.strategy}), {common.machine(device)}")
    print()
    print(md)
    best = max(by_batch, key=lambda b: b / by_batch[b]["total"])
    eps = {b: 1000 * b / by_batch[b]["total"] for b in by_batch}
    gain = f" = {eps[best] / eps[1]:.2f}x batch 1" if 1 in eps else ""
    print(f"RESULT scaling: best throughput at batch {best}: {eps[best]:.2f} examples/s{gain} (no bar)")

if __name__ == "__main__":
    main()
