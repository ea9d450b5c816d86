"""The learning curve of a training run (learning_curve.png): training loss and English dev scores over the steps."""
from pathlib import Path


def trailing_mean(xs, k: int) -> list[float]:
    """The mean of each value and the k - 1 before it (fewer at the start)."""
    return [sum(xs[max(0, i - k + 1):i + 1]) / len(xs[max(0, i - k + 1):i + 1]) for i in range(len(xs))]


def plot_learning_curve(records: list[dict], png: Path, title: str, best_step: int | None):
    """Training loss (and its 25-step moving mean) and English dev accuracy / loss over the steps, as a PNG.
    records: the run's log (metrics.jsonl)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
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
