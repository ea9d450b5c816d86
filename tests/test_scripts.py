"""The training scripts reproduce what ships: every directory in checkpoints/ is named by a queue entry of
scripts/train_pocket_bridges.sh or a family of scripts/train_probes.sh (their --list mode trains nothing)."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def listed(script: str) -> list[str]:
    out = subprocess.run(["bash", f"scripts/{script}", "--list"], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60)
    return out.stdout.split()


def test_every_shipped_checkpoint_is_made_by_a_script():
    made = set(listed("train_pocket_bridges.sh")) | set(listed("train_probes.sh"))
    root = ROOT / "checkpoints"
    shipped = {str(d.relative_to(root)) for d in [*root.iterdir(), *root.glob("ablations/*")]
               if (d / "bridge.safetensors").exists() or (d / "probe.safetensors").exists()}
    assert shipped, "no shipped checkpoints found"
    assert not shipped - made, f"shipped but reproduced by no script: {sorted(shipped - made)}"


def test_queue_names_are_unique_and_cover_each_family_and_strategy():
    names = listed("train_pocket_bridges.sh")
    assert len(names) == len(set(names))
    for family in ("topic", "news", "nli", "sentiment"):
        for strategy in ("last", "transformer-softmax", "global-softmax", "residual-softmax"):
            assert f"pocket-{family}-{strategy}" in names
    assert "pocket-news-sent-last" in names   # the app's news/last (spaces.yaml variants)


def test_ablation_arms_have_three_seeds_and_a_home_of_their_own():
    names = [n for n in listed("train_pocket_bridges.sh") if n.startswith("ablations/")]
    for arm in ("transformer-softmax-flr", "transformer-softmax-ent", "transformer-softmax-init", "last-ema"):
        assert {f"ablations/pocket-topic-{arm}{s}" for s in ("", "-s1", "-s2")} <= set(names)
