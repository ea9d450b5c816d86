"""A training run's directory (`python -m training.train --output-dir`):

    checkpoint-<step>/   training checkpoints (fusion.checkpoint: the bridge + the training state), newest kept
    best/                the bridge with the best English dev accuracy so far (with --eval-every)
    metrics.jsonl        the log: a line per step (loss, lr) and per English dev scoring
    and, once finished, the shipped bridge and its reports (fusion.checkpoint.SHIPPED_FILES; training.export)

Runs written by earlier versions of this code have the same layout: they resume and export unchanged.
"""
import json
import shutil
from pathlib import Path

from fusion import checkpoint
from fusion.files import atomic_dir


class RunDir:
    def __init__(self, path, keep: int, main: bool = True):
        """keep: training checkpoints kept (the newest); main: this process writes (the others only read)."""
        self.path, self.keep, self.main = Path(path), keep, main
        if main:
            self.path.mkdir(parents=True, exist_ok=True)

    @property
    def best(self) -> Path:
        return self.path / "best"

    @property
    def metrics(self) -> Path:
        return self.path / checkpoint.METRICS_FILE

    # ------------------------------------------------------------------ training checkpoints

    def checkpoints(self) -> list[Path]:
        """The training checkpoints, oldest first (by the step each one's trainer state records)."""
        found = [p for p in self.path.glob("checkpoint-*") if p.is_dir()]
        return sorted(found, key=lambda p: int(checkpoint.read_training_meta(p)["step"]))

    def save(self, model, optimizer, meta: dict, average=None):
        """checkpoint-<step>/ (meta["step"]): the bridge and the training state, written beside and renamed into
        place; only the newest `keep` are kept."""
        with atomic_dir(self.path / f"checkpoint-{meta['step']}", replace=True) as tmp:
            model.save_pretrained(tmp)
            checkpoint.save_training_state(tmp, optimizer, meta,
                                           ema=average.state_dict() if average is not None else None)
        for old in self.checkpoints()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)

    def resume(self, model, optimizer, average=None) -> dict | None:
        """Load the newest training checkpoint, if any, into the bridge (with from_pretrained's key and shape checks),
        the optimizer and the weight average; its trainer state, or None for a fresh run."""
        found = self.checkpoints()
        if not found:
            return None
        checkpoint.load_bridge(found[-1], model.bridge)
        ema = checkpoint.read_ema(found[-1])
        if average is not None and ema is not None:
            average.load_state_dict(ema)
        return {**checkpoint.load_training_state(found[-1], optimizer), "path": str(found[-1])}

    # ------------------------------------------------------------------ the log

    def log(self, record: dict):
        with self.metrics.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def lines(self) -> list[str]:
        text = self.metrics.read_text() if self.metrics.exists() else ""
        return [line for line in text.splitlines() if line.strip()]

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]

    def truncate_log(self, step: int):
        """Drop the log lines past `step` (the checkpoint a run resumes from): they are done again."""
        kept = [line for line in self.lines() if json.loads(line).get("step", 0) <= step]
        self.metrics.write_text("".join(line + "\n" for line in kept))
