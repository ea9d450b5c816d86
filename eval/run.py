"""One evaluation run, whatever its task type: what is evaluated and how (`Run`), its results (the per-language
view of eval.results, the same header for every task type) and its two files under <output_dir>/<model name>/:
<task>.json in lm-evaluation-harness's schema (eval.results.to_lm_eval) and <task>.predictions.jsonl."""
from dataclasses import dataclass
from pathlib import Path

from fusion.files import write_json_atomic

from . import predictions
from .provenance import provenance
from .results import SCHEMA, to_lm_eval
from .trace import task_definition


@dataclass
class Run:
    task: object                    # a tasks.Task or tasks.AlignmentTask
    languages: list[str]
    data_dir: str | None
    limit: int | None
    info: dict                      # the model's describe(), the results file's "model"
    config: dict                    # the results file's "config" entries every task type shares
    out_dir: Path | None            # <output_dir>/<model name>, or None: write nothing
    state: object                   # accelerate.PartialState: this process among the run's processes
    t0: float                       # when the run started (time.time())
    progress: bool
    batch_size: int
    scoring: str                    # classification's scoring (fusion.scoring) or "generate"
    bootstrap: int                  # resamples for the 95% intervals
    seed: int

    @property
    def data_source(self) -> str:
        """The results' config.data_source: the --data-dir folder, else the task's Hub dataset at its revision
        (also when it was read from a local copy of it: config.hub_dir names that copy)."""
        return str(self.data_dir) if self.data_dir else f"hub:{self.task.hub.path}@{self.task.hub.revision}"

    def data_where(self, local_file: str) -> str:
        """Where the test data was read, for the sample note: the file under --data-dir, else the Hub dataset."""
        if self.data_dir:
            return str(Path(self.data_dir) / local_file)
        hub_dir = self.config.get("hub_dir")
        copy = f"a local copy (in {hub_dir}) of " if hub_dir else ""
        return f"{copy}the hub ({self.task.hub.path}, split {self.task.hub.split})"

    def results_file(self, scoring: str, config: dict, results: dict, n_samples: dict, sample_note: str,
                     **extra) -> dict:
        """The run's results (the view of eval.results); its "config" is the scoring, the shared entries, then
        `config` (the task type's own: bootstrap, data_source, ...)."""
        data_dir = None if config["data_source"].startswith("hub:") else config["data_source"]
        return {"schema": SCHEMA, "model": self.info, "task": self.task.name,
                "task_config": task_definition(self.task, data_dir),
                "config": {"scoring": scoring, **self.config, **config}, "results": results, "n_samples": n_samples,
                "sample_note": sample_note, **extra, **provenance(self.state.num_processes, self.t0)}

    def write(self, results: dict, lines: list[dict]):
        """Main process: <task>.predictions.jsonl (complete, part files removed) and then <task>.json (the
        results in lm-evaluation-harness's schema)."""
        if self.out_dir is None:
            return
        if self.state.is_main_process:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            predictions.write_final(self.predictions_path, lines)
            write_json_atomic(self.out_dir / f"{self.task.name}.json", to_lm_eval(results))
        self.state.wait_for_everyone()

    @property
    def predictions_path(self) -> Path | None:
        return self.out_dir / f"{self.task.name}.predictions.jsonl" if self.out_dir is not None else None
