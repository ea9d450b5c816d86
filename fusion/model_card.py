"""Model cards (README.md) of trained bridges and encoder-alone probes, as huggingface_hub.ModelCard: YAML metadata the
Hub reads (base_model, language, license, datasets, metrics, pipeline_tag, tags, model-index) above a Markdown body.

Built only from what a checkpoint stores, its config (config.json, probe_config.json) and train_results.json (which
holds the training arguments, "args"), plus what the callers pass in as plain data: the training task (a
tasks.Task) and the test results (`Evaluation`s; none at training time). So a card can be rebuilt at any time without
retraining: training writes one when a run ends (training.train, training.train_probe), and eval.model_card rebuilds
them with the results files that exist (`python -m eval.model_card checkpoints checkpoints/ablations [--check]`).

Checkpoints trained before train_results.json stored the arguments get them recovered from their old card, which
states them (`recover_args`), and recorded with "args_source" saying so; what an old card did not state stays
unrecorded, and the new card says "not recorded" rather than guess.
"""
import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import checkpoint, hub
from .errors import CheckpointError
from .pocket import UPSTREAM
from .strategies import STRATEGY_REGISTRY

RECOVERED = ("recovered from README.md, the model card written when it was trained; options that card did not state "
             "are left out")
GEMMA_TERMS = "https://ai.google.dev/gemma/terms"
GEMMA_POLICY = "https://ai.google.dev/gemma/prohibited_use_policy"
MIT_MODELS = ("intfloat/multilingual-e5-small",)      # backbones whose weights are MIT
PIPELINE_TAG = "text-classification"                 # the bridges and probes score a task's label strings
TAGS = ["layerbridge", "multilingual", "cross-lingual-transfer"]


@dataclass(frozen=True)
class Evaluation:
    """A bridge's (or probe's) test results on one language of one task, as its card reports them (eval.model_card
    reads them from the results files)."""
    task: object                    # the tasks.Task evaluated
    language: str                   # the task's code for the language, e.g. sin_Sinh
    accuracy: float
    f1_macro: float | None
    n: int | None                   # examples scored
    ci95: tuple | None              # accuracy's 95% interval
    precision: str                  # the frozen backbones' precision in that run
    note: str                       # which examples were scored (the results file's sample_note)


# ---------------------------------------------------------------- metadata

def upstream(name: str | None) -> str | None:
    """The Hub id of a backbone as a config names it: a packaged pocket model's original, a Hub id as it is; None for
    the tiny random models and local directories."""
    if name in UPSTREAM:
        return UPSTREAM[name]
    return name if name and hub.is_repo_id(name) and not Path(name).expanduser().exists() else None


def is_gemma(hub_id: str | None) -> bool:
    return bool(hub_id) and hub_id.lower().startswith("google/gemma")


def licence(backbones: list[str | None]) -> dict:
    """The card's licence keys for weights trained through these backbones (their config names): the Gemma Terms of
    Use where one is Gemma (their "Model Derivatives" may cover a model trained through Gemma); MIT where every one
    is MIT or a random model built in code (the code's licence); else unknown."""
    from .backbones import PACKAGED_ENCODERS, PACKAGED_LLMS
    ids = [upstream(b) for b in backbones]
    if any(is_gemma(i) for i in ids):
        return dict(license="other", license_name="gemma-terms-of-use", license_link=GEMMA_TERMS)
    built_in_code = (set(PACKAGED_ENCODERS) | set(PACKAGED_LLMS)) - set(UPSTREAM)    # the tiny random models
    mit = all(i in MIT_MODELS or b in built_in_code for i, b in zip(ids, backbones))
    return dict(license="mit" if mit else "unknown")


def licence_section(backbones: list[str | None], what: str) -> str:
    ids = [upstream(b) for b in backbones]
    gemma = next((i for i in ids if is_gemma(i)), None)
    if gemma:
        return (f"\n## Licence\n\nThis {what} was trained through the frozen LLM `{gemma}` (its outputs and gradients), "
                f"so the\nGemma Terms of Use's \"Model Derivatives\" may cover it: it is shared under those terms. Gemma "
                f"is provided under\nand subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms "
                f"({GEMMA_TERMS}); the Prohibited\nUse Policy ({GEMMA_POLICY}) applies. The LayerBridge code "
                f"that trained it is MIT.\n")
    if licence(backbones)["license"] == "mit":
        return f"\n## Licence\n\nMIT, as the LayerBridge code and the frozen {'models' if len(ids) > 1 else 'encoder'}.\n"
    return (f"\n## Licence\n\nNot stated: the licences of the frozen models ({', '.join(f'`{b}`' for b in backbones)}) "
            f"may cover a {what} trained through them.\n")


def iso639(code: str) -> str:
    """A task's language code as the Hub's `language` wants it (ISO 639): FLORES's "sin_Sinh" -> "sin"."""
    return code.split("_")[0].lower()


def hub_dataset(source, language: str | None = None) -> dict:
    """A tasks.HubSource as a model-index dataset: id, and for `language` its config and split."""
    fill = lambda text: text.format(lang=language) if text and language else text
    return dict(type=source.path, config=fill(source.config), split=fill(source.split),
                revision=getattr(source, "revision", None))


def eval_results(evaluations) -> list:
    """The model-index entries (huggingface_hub.EvalResult): per task and language, accuracy and macro-F1."""
    from huggingface_hub import EvalResult
    out = []
    for e in evaluations:
        if e.task.hub is None:                              # no Hub dataset to name: only the body reports it
            continue
        dataset = hub_dataset(e.task.hub, e.language)
        common = dict(task_type=PIPELINE_TAG, task_name=e.task.label, dataset_type=dataset["type"],
                      dataset_name=f"{e.task.name} {e.language}", dataset_config=dataset["config"],
                      dataset_split=dataset["split"], dataset_revision=dataset["revision"])
        out.append(EvalResult(metric_type="accuracy", metric_value=round(e.accuracy, 4), metric_name="accuracy",
                              **common))
        if e.f1_macro is not None:
            out.append(EvalResult(metric_type="f1", metric_value=round(e.f1_macro, 4), metric_name="macro-F1",
                                  metric_args={"average": "macro"}, **common))
    return out


def metadata(name: str, backbones: list, task, trained: dict, evaluations, tags: list[str]):
    """The card's ModelCardData (module docstring)."""
    from huggingface_hub import ModelCardData
    args = trained.get("args", {})
    trained_on = [task.train_hub.path] if task is not None and task.train_hub and not (
        args.get("train_file") or args.get("train_dataset")) else []
    datasets = list(dict.fromkeys(trained_on + [e.task.hub.path for e in evaluations if e.task.hub is not None]))
    evaluated = list(dict.fromkeys(iso639(e.language) for e in evaluations))
    languages = (evaluated if {"en", "eng"} & set(evaluated) else ["en"] + evaluated) if trained else None
    results = eval_results(evaluations)
    bases = [b for b in map(upstream, backbones) if b]
    return ModelCardData(base_model=bases or None, datasets=datasets or None, language=languages,
                         metrics=["accuracy", "f1"], pipeline_tag=PIPELINE_TAG, tags=TAGS + tags,
                         model_name=name if results else None, eval_results=results or None,
                         **licence(backbones), **({"base_model_relation": "adapter"} if bases else {}))


def rendered(data, body: str) -> str:
    """The card's text: huggingface_hub.ModelCard of `data` (ModelCardData) above `body`."""
    from huggingface_hub import ModelCard
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


# ---------------------------------------------------------------- the body

def variant_note(train_variant: str) -> str:
    """The card's words for train_results.json's train_variant ("sentences<=N"), after the training data."""
    if not train_variant:
        return ""
    n = checkpoint.sentence_chunks(train_variant)
    return f" ({train_variant}: each text cut into runs of at most {n} sentences)"


def data_line(args: dict, task) -> str:
    """Where the English training data came from, as the arguments say (a file, a hub dataset, a data folder)."""
    if args.get("train_file") or args.get("train_dataset"):
        return args.get("train_file") or args["train_dataset"]
    if args.get("data_dir"):
        return f"{args['data_dir']}/{task.train_local}"
    if "data_dir" in args:
        return f"hub: {task.train_hub.path if task.train_hub else '?'}"
    return "not recorded"


def examples_line(n: int, balance) -> str:
    if balance is None:
        return f"{n} examples (class balance not recorded)"
    return f"{n} class-balanced examples" if balance else f"{n} examples (not class-balanced: as the file has them)"


def training_time(s: dict) -> str:
    """The training time in all (over resumed runs) where it was recorded; a run that never resumed recorded it as
    its own time. Otherwise the card says it was not recorded."""
    total, last, resumed = s.get("train_seconds_total"), s.get("train_seconds_this_run"), s.get("resumed_from", 0)
    if total is None and not resumed:
        total = last
    if total is not None:
        return f"training time: {total or last} s in all\n  (the last, possibly resumed, run: {last} s)"
    return (f"training time: not recorded (this record predates times kept across resumed runs; its last run "
            f"resumed after step {resumed} and took {last} s)")


def stop_line(s: dict, a: dict) -> str:
    """Which step's bridge was kept and why training stopped."""
    if a.get("eval_every"):
        return (f"\n- Kept the bridge of step {s['steps']} (best English dev accuracy, dev scored every "
                f"{a['eval_every']} steps); trained {s['trained_steps']} of at most {s['max_steps']} steps; "
                f"stopped: {s['stop_reason']}. Learning curve: {checkpoint.CURVE_FILE}")
    if s.get("stop_reason"):
        return f"\n- Trained {s['trained_steps']} of at most {s['max_steps']} steps; stopped: {s['stop_reason']}"
    return ""


def optimiser_line(a: dict) -> str:
    """The optimiser and schedule (and the fusion's regularisation, where the arguments record it)."""
    if "lr" not in a:
        return "not recorded"
    lrs = [f"fusion lr {a['fusion_lr'] or a['lr']}"] if "fusion_lr" in a else []
    lrs += [f"temperature lr {a['temperature_lr'] or a['lr']}"] if "temperature_lr" in a else []
    line = (f"AdamW lr {a['lr']}{' (' + ', '.join(lrs) + ')' if lrs else ''},\n  weight decay {a['weight_decay']}, "
            f"cosine schedule with {a['warmup_ratio']:.0%} warm-up, grad clip {a['grad_clip']}")
    if {"fusion_entropy_weight", "transformer_last_layer_init", "ema_decay"} <= set(a):
        line += (f"\n- Fusion regularisation: entropy bonus {a['fusion_entropy_weight']}; transformer-softmax "
                 f"last-layer logit init\n  {a['transformer_last_layer_init']}; weight average (EMA decay) "
                 f"{a['ema_decay'] or 'none'}")
    return line


def weight_lines(s: dict, name: str, layers: list[int]) -> str:
    """What strategy `name`'s layer weights ended as: shared weights (strategies that have them), per-token
    statistics and the mean mix on English dev."""
    out = ""
    if "layer_weights" in s:
        meaning = f"{STRATEGY_REGISTRY[name].weights_meaning}; " if name in STRATEGY_REGISTRY else ""
        out += f"\n- Final {name} layer weights ({meaning}layers {layers}): {s['layer_weights']}"
    if s.get("dev_weight_stats"):
        ws = s["dev_weight_stats"]
        out += (f"\n- Per-token layer weights on English dev ({ws['tokens']} tokens): mean entropy "
                f"{ws['entropy']:.3f} nats (max {ws['max_entropy']:.3f}), mean largest weight {ws['max_weight']:.3f}, "
                f"variation across the tokens of a text {ws['token_variation']:.3f} (total variation distance from "
                f"the text's mean mix)" + (f"; {s['dev_weight_stats_note']}" if s.get("dev_weight_stats_note") else ""))
    if s.get("dev_layer_mix"):
        mix = s["dev_layer_mix"]
        top = max(range(len(mix)), key=mix.__getitem__)
        out += (f"\n- Layer mix on English dev (mean fusion weight per layer {layers}): {mix}; heaviest: "
                f"layer {layers[top]} ({mix[top]:.2f})")
    return out


def evaluation_section(evaluations) -> str:
    """Per task: where its data came from, which examples were scored, and per language accuracy [95% CI],
    macro-F1 and n."""
    if not evaluations:
        return ""
    out = "\n## Evaluation\n\nZero-shot in every language but English: trained on English data only.\n"
    for name in dict.fromkeys(e.task.name for e in evaluations):
        rows = [e for e in evaluations if e.task.name == name]
        task, precision = rows[0].task, ", ".join(sorted({e.precision for e in rows}))
        source = f" (Hub dataset `{task.hub.path}`)" if task.hub is not None else ""
        notes = "; ".join(dict.fromkeys(e.note for e in rows if e.note))
        out += (f"\n{task.name}{source}, frozen backbones in {precision}" + (f"; {notes}" if notes else "") +
                ":\n\n| language | accuracy [95% CI] | macro-F1 | n |\n|---|---|---|---|\n")
        for e in rows:
            ci = f" [{e.ci95[0]:.3f}, {e.ci95[1]:.3f}]" if e.ci95 else ""
            f1 = "-" if e.f1_macro is None else f"{e.f1_macro:.3f}"
            out += f"| {e.language} | {e.accuracy:.3f}{ci} | {f1} | {'-' if e.n is None else e.n} |\n"
    return out


def bridge_body(config: dict, s: dict, task) -> str:
    """A trained bridge's card text: config = its config.json, s = its train_results.json (with "args")."""
    a = s.get("args", {})
    strategy = STRATEGY_REGISTRY.get(config["strategy"])
    layers = config.get("layers") or list(range(1, config["num_encoder_layers"] + 1))
    dev = "not measured" if s["dev_accuracy"] is None else f"{s['dev_accuracy']:.3f} (n={s['dev_examples']})"
    data = data_line(a, task) + variant_note(s.get("train_variant") or "")
    fusion = f"\n- Fusion: {config['strategy']}: {strategy.description}" if strategy else ""
    return f"""# LayerBridge bridge: {task.name} / {config['strategy']}

A trained bridge (fusion + mapping + boundary, {s['trainable_parameters']:,} parameters) between the frozen
encoder `{config['encoder']}` and the frozen LLM `{config['llm']}`. Load with `FusedModel.from_pretrained(this_dir)`,
or by its Hub id, `FusedModel.from_pretrained("USER/NAME", revision=...)`.

- Task: {task.name} ({task.description}); prompt `{task.template}` -> {', '.join(task.choices)}{fusion}
- Training data: {data}, English only; {examples_line(s['train_examples'], a.get('balance'))}
- Steps: {s['steps']} x global batch {s['global_batch']} ({s['processes']} process(es)); seed {s['seed']}{stop_line(s, a)}
- Optimiser: {optimiser_line(a)}
- Encoder input: `{config['encoder_text_prefix']}` + prompt, truncated at {config['max_encoder_length']} tokens; layer norm before
  mixing: {config['layer_norm']}; mapping: {config['mapping']}
- Precision: frozen encoder and LLM in {s['precision']}; bridge, optimizer and loss in float32
- Hardware: {s['hardware']}; {training_time(s)}
- English dev accuracy: {dev}{weight_lines(s, config['strategy'], layers)}
"""


def probe_body(config: dict, s: dict, task) -> str:
    """An encoder-alone probe's card text: config = its probe_config.json, s = its train_results.json (with "args")."""
    data = data_line(s.get("args", {}), task) + variant_note(s.get("train_variant") or "")
    balance = "class-balanced" if s["balance"] else "all, as the file has them"
    return f"""# Encoder-alone baseline: {task.name}

No LLM: the frozen encoder `{config['encoder']}` (input `{config['encoder_text_prefix']}` + the task prompt
`{task.template}`, truncated at {config['max_encoder_length']} tokens), its last layer mean-pooled and
L2-normalised, and a multinomial logistic regression (scikit-learn) over {', '.join(task.choices)}.
Load with `EncoderProbe.from_pretrained(this_dir)` or by its Hub id.

- Training data: {data}, English only; {s['train_examples']} examples ({balance}), seed {s['seed']}
- Regularisation: C = {s['C']}, chosen on English dev (n={s['dev_examples']}) among {', '.join(s['dev_accuracy_per_C'])};
  dev accuracy per C: {json.dumps(s['dev_accuracy_per_C'])}
- Precision of the encoder: {s['precision']}; hardware: {s['hardware']}; {s['seconds']} s
"""


def untrained_body(config: dict, kind: str) -> str:
    """The text of a card for weights with no training record (e.g. pushed from memory)."""
    if kind == "probe":
        return (f"# Encoder-alone baseline\n\nThe frozen encoder `{config['encoder']}` and a logistic regression over "
                f"{', '.join(config.get('choices', []))}. How it was trained is not recorded with it.\n")
    return (f"# LayerBridge bridge: {config['strategy']}\n\nA bridge between the frozen encoder `{config['encoder']}` "
            f"and the frozen LLM `{config['llm']}`. How it was trained is not recorded with it.\n")


# ---------------------------------------------------------------- a checkpoint's card

def card(path, task, evaluations=(), trained: dict | None = None) -> str:
    """The card of the bridge or probe at `path` (a ModelCard's text): from its stored config and train_results.json
    (or `trained`), `task` (the tasks.Task it was trained on) and `evaluations` (its test results, maybe none)."""
    info = checkpoint.identify(path)
    trained = checkpoint.read_train_results(path) if trained is None else trained
    if info is None or not trained:
        raise CheckpointError(f"{path} is not a trained bridge or probe with {checkpoint.RESULTS_FILE}")
    evaluations, name = list(evaluations), Path(path).resolve().name
    if info.kind == "probe":
        config = checkpoint.read_probe(path)[0]
        backbones, body, tags = [config["encoder"]], probe_body(config, trained, task), ["encoder-probe"]
    else:
        config = checkpoint.read_config(path).to_dict()
        backbones, body = [config["encoder"], config["llm"]], bridge_body(config, trained, task)
        tags = [config["strategy"], f"{task.family}-classification" if task.family else task.name]
    body += evaluation_section(evaluations) + licence_section(backbones, "probe" if info.kind == "probe" else "bridge")
    return rendered(metadata(name, backbones, task, trained, evaluations, tags), body)


def untrained_card(config: dict, kind: str = "fused") -> str:
    """A card for weights pushed without a training record: metadata from the config alone."""
    backbones = [config["encoder"]] if kind == "probe" else [config["encoder"], config["llm"]]
    body = untrained_body(config, kind) + licence_section(backbones, "probe" if kind == "probe" else "bridge")
    tags = ["encoder-probe"] if kind == "probe" else [config["strategy"]]
    return rendered(metadata("", backbones, None, {}, [], tags), body)


# ---------------------------------------------------------------- arguments of older checkpoints

def number(text: str):
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def recover_args(old_card: str, task) -> dict:
    """The training arguments an old card states (the templates above; older ones said the same things in the same
    words), as TrainArgs fields; task: the tasks.Task it was trained on. Nothing that card did not state."""
    a = {}
    m = re.search(r"^- Training data: (.+?)(?: \(sentences<=\d+: [^)]*\))?, English only", old_card, re.M)
    if m and not m[1].startswith("hub: ") and m[1] != "not recorded":
        if task.train_local and m[1].endswith("/" + task.train_local):
            a["data_dir"] = m[1][:-len(task.train_local) - 1]
        else:
            a["train_file"] = m[1]
    m = re.search(r"^- Steps: \d+ x global batch (\d+) \((\d+) process\(es\)\); seed (\d+)", old_card, re.M)
    if m:
        a["batch_size"], a["seed"] = int(m[1]) // int(m[2]), int(m[3])
    m = re.search(r"dev scored every (\d+) steps", old_card)
    if m:
        a["eval_every"] = int(m[1])
    m = re.search(r"did not improve on [\d.]+ \(step \d+\) in (\d+) evaluations", old_card)
    if m:
        a["patience"] = int(m[1])
    m = re.search(r"AdamW lr (\S+?) \((?:fusion lr (\S+?), )?temperature lr (\S+?)\),\s+weight decay (\S+?),\s+cosine "
                  r"schedule with (\d+)% warm-up, grad clip (\S+)$", old_card, re.M)
    if m:
        a.update(lr=number(m[1]), temperature_lr=number(m[3]), weight_decay=number(m[4]),
                 warmup_ratio=int(m[5]) / 100, grad_clip=number(m[6]))
        if m[2]:
            a["fusion_lr"] = number(m[2])
    m = re.search(r"entropy bonus (\S+?); transformer-softmax last-layer logit init\s+(\S+?); weight average \(EMA "
                  r"decay\) (\S+)$", old_card, re.M)
    if m:
        a.update(fusion_entropy_weight=number(m[1]), transformer_last_layer_init=number(m[2]),
                 ema_decay=0.0 if m[3] == "none" else number(m[3]))
    return a


# ---------------------------------------------------------------- regeneration

def regenerate(path, task, evaluations=(), check: bool = False) -> bool:
    """Rebuild the card of the bridge or probe at `path` (recovering its training arguments first where its
    train_results.json lacks them). check: only compare. True where the card on disk was (or is now) up to date."""
    trained = checkpoint.read_train_results(path)
    if "args" not in trained:
        old = checkpoint.read_card(path)
        if old is None:
            raise CheckpointError(f"{path}: {checkpoint.RESULTS_FILE} records no training arguments and there is no "
                                  f"old model card to recover them from")
        trained = {**trained, "args": recover_args(old, task), "args_source": RECOVERED}
        if not check:
            checkpoint.write_train_results(path, trained)
    new = card(path, task, evaluations, trained)
    same = checkpoint.read_card(path) == new
    if not check and not same:
        checkpoint.write_card(path, new)
    return same


def trained_checkpoints(paths) -> list[Path]:
    """Each path that is a trained bridge or probe, and those directly inside each path that is not."""
    found = []
    for p in map(Path, paths):
        inside = [p] if checkpoint.identify(p) else [info.path for info in checkpoint.scan(p)]
        found += [q for q in inside if checkpoint.read_train_results(q)]
    return found
