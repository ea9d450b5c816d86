"""The training run's arguments (TrainArgs), its command line (transformers.HfArgumentParser: `--balance ture` is
refused, not read as False) and the FusionConfig they describe."""
import argparse
from dataclasses import dataclass, fields

from fusion.errors import ConfigError, DataError
from fusion.files import read_json
from fusion.presets import preset_config
from fusion.strategies import STRATEGY_REGISTRY


@dataclass
class TrainArgs:
    output_dir: str = "runs/bridge"
    preset: str = "pocket"
    encoder: str | None = None            # override the preset's encoder / LLM
    llm: str | None = None
    strategy: str = "transformer-softmax"  # a name in fusion.strategies.STRATEGY_REGISTRY
    layers: str | None = None             # comma-separated 1-based encoder layers to fuse; None = all
    layer_norm: bool = True
    mapping: str = "linear"
    max_encoder_length: int | None = None  # preset default when None
    task: str = "xnli"                     # a task or family name (nli, news, sentiment)
    train_file: str | None = None          # local JSON Lines; else --data-dir's file for the task; else the hub
    train_dataset: str | None = None       # a hub dataset id (split "train")
    dev_file: str | None = None
    data_dir: str | None = None
    max_train_examples: int = 100_000      # class-balanced subset
    dev_fraction: float = 0.1              # held out of the training file when there is no dev file
    sentence_chunks: int = 0               # > 0: train and score dev on runs of at most this many sentences of each
                                           # text (one example each) instead of whole texts; single-text tasks
    eval_examples: int = 200               # English dev examples scored (a fixed set; 0 = skip)
    eval_every: int = 0                    # score the dev set every N steps, keep the best bridge (0 = only at the end)
    patience: int = 0                      # stop after this many dev evaluations without improvement (0 = never)
    balance: bool = True                   # class-balanced subset of the training file (False: every example)
    precision: str = "auto"                # frozen backbones: auto | float32 | bfloat16 (fusion.precision)
    lr: float = 3e-5
    temperature_lr: float | None = None    # global softmax's temperature t (tau = 100 + 1e5 t); None = lr
    fusion_lr: float | None = None         # the fusion module's own lr; None = its strategy's default, else lr
    fusion_entropy_weight: float = 0.0     # loss - this x mean per-token layer-weight entropy (FusionConfig)
    transformer_last_layer_init: float = 0.0  # transformer softmax: initial logit of the last layer (FusionConfig)
    ema_decay: float = 0.0                 # > 0: dev-score and ship an exponential moving average of the bridge's
                                           # weights over the steps (e.g. 0.99), not the raw last weights
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    batch_size: int = 8                    # per process
    epochs: float = 3.0
    max_steps: int | None = None           # overrides epochs
    grad_clip: float = 1.0
    seed: int = 0
    save_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 1


def fusion_config(args: TrainArgs):
    """The FusionConfig the arguments describe (ConfigError for an unknown preset, strategy, mapping or layers)."""
    overrides = dict(strategy=args.strategy, layer_norm=args.layer_norm, mapping=args.mapping,
                     fusion_entropy_weight=args.fusion_entropy_weight,
                     transformer_last_layer_init=args.transformer_last_layer_init)
    for key in ("encoder", "llm", "max_encoder_length"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    if args.layers:
        try:
            overrides["layers"] = [int(x) for x in str(args.layers).split(",")]
        except ValueError as e:
            raise ConfigError(f"--layers takes comma-separated layer numbers such as 6,9,12, not {args.layers!r}") from e
    return preset_config(args.preset, **overrides)


def effective_fusion_lr(args: TrainArgs) -> float:
    """The fusion module's learning rate: --fusion-lr, else its strategy's default (fusion.strategies), else --lr."""
    return args.fusion_lr or STRATEGY_REGISTRY[args.strategy].fusion_lr or args.lr


def recipe(args: TrainArgs) -> dict:
    """The training choices an ablation varies, as recorded in train_results.json and the model card."""
    return {"lr": args.lr, "fusion_lr": effective_fusion_lr(args), "fusion_entropy_weight": args.fusion_entropy_weight,
            "transformer_last_layer_init": args.transformer_last_layer_init, "ema_decay": args.ema_decay}


def parse_args(argv=None, description: str | None = None) -> TrainArgs:
    """`--<field>` (or `--<field_name>`) for every TrainArgs field, each value checked against its type; `--config
    FILE` reads a JSON object of them first, checked the same way (the command line wins). Unknown names of presets,
    strategies and the like stop here, before any data is read."""
    import sys

    from transformers import HfArgumentParser

    argv = sys.argv[1:] if argv is None else list(argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    config_file = pre.parse_known_args(argv)[0].config
    parser = HfArgumentParser(TrainArgs, prog="python -m training.train", description=description)
    parser.add_argument("--config", help="JSON file with any of the options below (the command line wins)")
    args = parser.parse_args_into_dataclasses((config_argv(config_file) if config_file else []) + argv)[0]
    fusion_config(args)
    return args


def config_argv(config_file) -> list[str]:
    """A --config file's options as command-line arguments, so that they are read (and refused) as the command
    line's are."""
    values = read_json(config_file, DataError)
    if not isinstance(values, dict):
        raise DataError(f"{config_file} must hold a JSON object of training options")
    defaults = {f.name: f.default for f in fields(TrainArgs)}
    unknown = set(values) - set(defaults)
    if unknown:
        raise DataError(f"unknown keys in {config_file}: {sorted(unknown)}")
    out = []
    for name, value in values.items():
        if value is None and defaults[name] is not None:
            raise DataError(f"{config_file}: {name} cannot be null")
        if value is not None:
            out += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return out
