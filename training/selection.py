"""Choosing the bridge that ships on English dev: the fixed dev set is scored every `eval_every` steps, the best
bridge so far is kept in the run's best/, and the run stops after `patience` scorings without improvement. The
state (`tracker`) travels in every training checkpoint's trainer_state.json, so a resumed run goes on deciding as
the interrupted one would have. Decided before any run was scored on a test set; English only."""
import contextlib

from .args import TrainArgs
from .dev_eval import dev_metrics
from .run_dir import RunDir


def improves(new: dict, best: dict | None) -> bool:
    """Dev accuracy at least as high as the best so far: at equal accuracy the later bridge wins (it has trained
    longer, at the lower learning rate the schedule has reached)."""
    return best is None or new["dev_accuracy"] >= best["dev_accuracy"]


class DevSelection:
    def __init__(self, args: TrainArgs, task, dev_rows: list[dict], run: RunDir):
        self.args, self.task, self.dev_rows, self.run = args, task, dev_rows, run
        self.tracker = {"best": None, "best_step": None, "bad_evals": 0, "stop_reason": None, "train_seconds": 0.0}

    @property
    def stopped_early(self) -> bool:
        return (self.tracker["stop_reason"] or "").startswith("early stop")

    def score(self, model) -> dict | None:
        """dev_metrics of `model` on the run's fixed dev rows (None where none are scored)."""
        return dev_metrics(model, self.task, self.dev_rows, self.args.eval_examples)

    def due(self, step: int) -> bool:
        return bool(self.args.eval_every) and step % self.args.eval_every == 0

    def evaluate(self, model, step: int, acc, average=None) -> bool:
        """Main process: score the dev set (the weight average where there is one: what would ship), log it, keep the
        best bridge, count scorings without improvement. Every process gets the decision (broadcast), so no rank
        waits on another. True where the run stops early here."""
        from accelerate.utils import broadcast_object_list
        args, tracker = self.args, self.tracker
        decision = [None]
        if acc.is_main_process:
            with average.swapped_in() if average is not None else contextlib.nullcontext():
                m = self.score(model)
                if m is not None:
                    self.run.log({"step": step, **m})
                    if improves(m, tracker["best"]):
                        tracker.update(best=m, best_step=step, bad_evals=0)
                        model.save_pretrained(self.run.best)
                    else:
                        tracker["bad_evals"] += 1
            if args.patience and tracker["bad_evals"] >= args.patience:
                tracker["stop_reason"] = (f"early stop: English dev accuracy did not improve on "
                                          f"{tracker['best']['dev_accuracy']:.3f} (step {tracker['best_step']}) in "
                                          f"{args.patience} evaluations ({args.patience * args.eval_every} steps)")
            decision = [dict(tracker)]
        broadcast_object_list(decision)
        tracker.update(decision[0])
        return self.stopped_early
