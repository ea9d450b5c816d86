"""Batch evaluation of any model kind (fusion.interface: a fused model, the plain-LLM baseline, ...) on a task:
`python -m eval run ...` and `evaluate(...)`, which the benchmark scripts call.

Scoring: "loglik" (default) scores every label string after the prompt with `model.classify` (one backbone pass per
batch, fusion.scoring) and predicts the most likely label; "constrained" predicts the most likely label under
decoding restricted to the label strings (no vocabulary-wide normalizer: faster, less memory); "generate" is the
reference's greedy generation (max_new_tokens = longest label + 2) with an exact match of the stripped first line
against the label strings (no match = wrong), for kinds that can generate. Metrics: eval.metrics (scikit-learn;
not `evaluate.load`, which needs the hub).

Each task type is evaluated its own way, in the manner of lm-evaluation-harness's task classes: a classification
task (tasks.Task) by eval.classification, an alignment task (tasks.AlignmentTask) by eval.alignment (EVALUATIONS).

Files, under <output_dir>/<model name>/: <task>.json (lm-evaluation-harness's results schema with our extras,
eval.results, written atomically) and <task>.predictions.jsonl, one line per example in the field names of
lm-eval's `--log_samples` (doc_id, doc_hash, prompt_hash, target, arguments, resps, filtered_resps, acc) without
the input text, plus id, lang, predicted, per-choice probs, scoring and the run signature (eval.predictions).
Resuming an interrupted run: eval.predictions. Versions, hardware and date: eval.provenance.

Several processes (`accelerate launch --multi_gpu --num_processes N -m eval run ...`; on a machine without CUDA
this runs N CPU processes with gloo, whereas accelerate 1.15's `--cpu` launcher starts only ONE process unless MPI
is set up): every process loads the model and the data and scores its own shard; the main process writes the
files. The numbers equal a one-process run.
"""
import time
from pathlib import Path

import torch

from fusion.errors import ConfigError, DataError
from fusion.interface import check_model
from fusion.scoring import SCORINGS as CLASSIFY_SCORINGS
from fusion.spec import parse_model_spec
from tasks import AlignmentTask, Task, get_any_task

from .alignment import AlignmentEvaluation
from .classification import ClassificationEvaluation
from .run import Run

SCORINGS = (*CLASSIFY_SCORINGS, "generate")  # classify's scorings (fusion.scoring) + generation
EVALUATIONS = {Task: ClassificationEvaluation, AlignmentTask: AlignmentEvaluation}   # task type -> how it is evaluated


def safe_name(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "-_.+" else "-" for c in name).strip(".")
    if not out:
        raise ConfigError(f"model name {name!r} gives no usable directory name; pass --name")
    return out


def check_languages(evaluation, languages, data_dir=None) -> list[str]:
    task = evaluation.task
    languages = list(languages)
    if not languages:
        raise ConfigError("give at least one language")
    known = evaluation.known_languages(data_dir)
    unknown = [lang for lang in languages if lang not in known]
    if unknown:
        where = f" in {data_dir}" if data_dir is not None and getattr(task, "open_languages", False) else ""
        raise DataError(f"task {task.name} has no language {', '.join(map(repr, unknown))}{where}; "
                        f"it has {', '.join(known)}")
    if len(set(languages)) != len(languages):
        raise ConfigError(f"a language is given twice: {' '.join(languages)}")
    return languages


def evaluate(model, task_name: str, languages=None, data_dir=None, limit: int | None = None, output_dir=None,
             batch_size: int = 16, scoring: str = "loglik", bootstrap: int = 1000, seed: int = 0,
             model_name: str | None = None, progress: bool = True, strategy: str | None = None,
             precision: str = "auto", centering=None, hub_dir=None) -> dict:
    """Evaluate `model` (a model of the fusion.interface kinds, or a model spec: fusion.spec, e.g. a checkpoint dir,
    a preset name, "plain:<llm>" or "probe:<preset>") on a task. Returns the results (eval.results' per-language view);
    with `output_dir`, writes <output_dir>/<name>/<task>.json and <task>.predictions.jsonl, resuming from the
    predictions of an interrupted run. `centering`: a fusion.centering.LanguageCentering the model applies per
    example language (the run then uses unlabeled target-language text, and its name says "+centered"). The test
    data comes from `data_dir` (../shared/benchdata's layout), else from the task's Hugging Face dataset: by its id,
    or from the local copy of it under `hub_dir` (tasks.hub_copy). Bad input raises fusion.errors (ConfigError,
    DataError, CheckpointError, ...)."""
    from accelerate import PartialState

    t0 = time.time()
    task = get_any_task(task_name)
    evaluation = EVALUATIONS[type(task)](task)
    spec = None
    if isinstance(model, str):
        spec = parse_model_spec(model).resolve(task)
        spec = spec.with_strategy(strategy) if strategy else spec
        evaluation.check_model(spec)
    if scoring not in SCORINGS:
        raise ConfigError(f"unknown scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
    for name, value, low in (("batch_size", batch_size, 1), ("bootstrap", bootstrap, 0), ("limit", limit, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise DataError(f"data directory {data_dir} does not exist")
    if hub_dir is not None and data_dir is not None:
        raise ConfigError("give --data-dir or --hub-dir, not both")
    if hub_dir is not None and not Path(hub_dir).is_dir():
        raise DataError(f"hub copy directory {hub_dir} does not exist (python -m tasks.hub_copy writes one)")
    languages = check_languages(evaluation, languages or evaluation.default_languages(data_dir), data_dir)
    evaluation.load(languages, data_dir, limit, hub_dir)   # data first: a bad file fails before the model loads

    state = PartialState(cpu=not torch.cuda.is_available())  # CPU-only machines: gloo across processes
    if spec is not None:
        torch.manual_seed(seed)  # a preset's untrained bridge is random: the same weights in every process
        model = spec.load(device=state.device, dtype=precision)
    if centering is not None:
        if getattr(model, "use_centering", None) is None:
            raise ConfigError(f"{type(model).__name__} has no encoder states to centre: --centering needs a bridge, "
                              f"an ensemble of bridges or the encoder-alone probe")
        model.use_centering(centering)
    info = check_model(model).describe()
    if model_name:
        info["name"] = model_name
    config = dict(precision=model.precision, limit=limit, seed=seed, batch_size=batch_size,
                  processes=state.num_processes, languages=languages)
    if hub_dir is not None:
        config["hub_dir"] = str(hub_dir)
    run = Run(task=task, languages=languages, data_dir=data_dir, limit=limit, info=info, config=config,
              out_dir=Path(output_dir) / safe_name(info["name"]) if output_dir is not None else None,
              state=state, t0=t0, progress=progress, batch_size=batch_size, scoring=scoring, bootstrap=bootstrap,
              seed=seed)
    return evaluation.evaluate(model, run)
