"""Model cards (README.md) of trained bridges and encoder-alone probes, built only from what the checkpoint stores:
its config (config.json, probe_config.json) and train_results.json, which holds the training arguments ("args").
A card can therefore be rebuilt at any time, without retraining:

    python -m training.model_card checkpoints checkpoints/ablations     # rewrite every card there
    python -m training.model_card checkpoints --check                   # exit 1 where a card is out of date

Checkpoints trained before train_results.json stored the arguments get them recovered from their old card, which
states them (`recover_args`), and recorded with "args_source" saying so; what an old card did not state stays
unrecorded, and the new card says "not recorded" rather than guess.
"""
import argparse
import json
import re
import sys
from pathlib import Path

from fusion import checkpoint
from fusion.errors import CheckpointError, exit_on_user_error
from fusion.strategies import STRATEGY_REGISTRY
from tasks import get_task

RECOVERED = ("recovered from README.md, the model card written when it was trained; options that card did not state "
             "are left out")


# ---------------------------------------------------------------- the cards

def variant_note(train_variant: str) -> str:
    """The card's words for train_results.json's train_variant ("sentences<=N"), after the training data."""
    if not train_variant:
        return ""
    n = train_variant.removeprefix("sentences<=")
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


def bridge_card(config: dict, s: dict) -> str:
    """A trained bridge's card: config = its config.json, s = its train_results.json (with "args")."""
    task, a = get_task(s["task"]), s.get("args", {})
    strategy = STRATEGY_REGISTRY.get(config["strategy"])
    layers = config.get("layers") or list(range(1, config["num_encoder_layers"] + 1))
    dev = "not measured" if s["dev_accuracy"] is None else f"{s['dev_accuracy']:.3f} (n={s['dev_examples']})"
    data = data_line(a, task) + variant_note(s.get("train_variant") or "")
    fusion = f"\n- Fusion: {config['strategy']}: {strategy.description}" if strategy else ""
    return f"""# LayerBridge bridge: {task.name} / {config['strategy']}

A trained bridge (fusion + mapping + boundary, {s['trainable_parameters']:,} parameters) between the frozen
encoder `{config['encoder']}` and the frozen LLM `{config['llm']}`. Load with `FusedModel.from_pretrained(this_dir)`.

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


def probe_card(config: dict, s: dict) -> str:
    """An encoder-alone probe's card: config = its probe_config.json, s = its train_results.json (with "args")."""
    task = get_task(s["task"])
    data = data_line(s.get("args", {}), task) + variant_note(s.get("train_variant") or "")
    balance = "class-balanced" if s["balance"] else "all, as the file has them"
    return f"""# Encoder-alone baseline: {task.name}

No LLM: the frozen encoder `{config['encoder']}` (input `{config['encoder_text_prefix']}` + the task prompt
`{task.template}`, truncated at {config['max_encoder_length']} tokens), its last layer mean-pooled and
L2-normalised, and a multinomial logistic regression (scikit-learn) over {', '.join(task.choices)}.

- Training data: {data}, English only; {s['train_examples']} examples ({balance}), seed {s['seed']}
- Regularisation: C = {s['C']}, chosen on English dev (n={s['dev_examples']}) among {', '.join(s['dev_accuracy_per_C'])};
  dev accuracy per C: {json.dumps(s['dev_accuracy_per_C'])}
- Precision of the encoder: {s['precision']}; hardware: {s['hardware']}; {s['seconds']} s
"""


def card(path, trained: dict | None = None) -> str:
    """The card of the bridge or probe at `path`, from its stored config and train_results.json (or `trained`)."""
    info = checkpoint.identify(path)
    trained = checkpoint.read_train_results(path) if trained is None else trained
    if info is None or not trained:
        raise CheckpointError(f"{path} is not a trained bridge or probe with {checkpoint.RESULTS_FILE}")
    if info.kind == "probe":
        return probe_card(checkpoint.read_probe(path)[0], trained)
    return bridge_card(checkpoint.read_config(path).to_dict(), trained)


# ---------------------------------------------------------------- arguments of older checkpoints

def number(text: str):
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def recover_args(old_card: str, s: dict) -> dict:
    """The training arguments an old card states (the templates above; older ones said the same things in the same
    words), as TrainArgs fields; s: its train_results.json (for the task). Nothing that card did not state."""
    a = {}
    task = get_task(s["task"])
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

def regenerate(path, check: bool = False) -> bool:
    """Rebuild the card of the bridge or probe at `path` (recovering its training arguments first where its
    train_results.json lacks them). check: only compare. True where the card on disk was (or is now) up to date."""
    trained = checkpoint.read_train_results(path)
    if "args" not in trained:
        old = checkpoint.read_card(path)
        if old is None:
            raise CheckpointError(f"{path}: {checkpoint.RESULTS_FILE} records no training arguments and there is no "
                                  f"old model card to recover them from")
        trained = {**trained, "args": recover_args(old, trained), "args_source": RECOVERED}
        if not check:
            checkpoint.write_train_results(path, trained)
    new = card(path, trained)
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


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.model_card", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="checkpoints, or folders of them (e.g. checkpoints checkpoints/ablations)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 where a card is out of date")
    args = p.parse_args(argv)
    with exit_on_user_error():
        stale = [path for path in trained_checkpoints(args.paths) if not regenerate(path, check=args.check)]
    for path in stale:
        print(f"{'out of date' if args.check else 'rewritten'}: {path / checkpoint.CARD_FILE}")
    if args.check and stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
