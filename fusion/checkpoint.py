"""The one place that knows a checkpoint's layout: every file that ships with a bridge or a probe, who a checkpoint
is (read from those files, never from its folder's name), and a training checkpoint's state.

A bridge checkpoint is a directory:

    config.json             FusionConfig (transformers PretrainedConfig JSON, model_type "layerbridge")
    bridge.safetensors      the bridge's weights only (fusion + mapping + boundary), float32
    README.md               model card (optional; fusion.model_card builds it, eval.model_card adds results)
    train_results.json      how it was trained (training.train): task, seed, train_variant, steps, dev scores,
                            the training arguments ("args"), times, hardware
    metrics.jsonl           the training log: a line per step (loss, lr) and per English dev scoring
    learning_curve.png      that log drawn (only when dev was scored during training)

An encoder-alone probe (fusion.probe) is a directory:

    probe_config.json       ProbeConfig (JSON, model_type "layerbridge-probe")
    probe.safetensors       the classifier's weight [K, D] and bias [K]
    README.md, train_results.json   as above (training.train_probe)

A training checkpoint (training.train's checkpoint-<step>/) is a bridge checkpoint plus

    optimizer.safetensors   AdamW state tensors, keyed "<param index>.<name>"
    ema.safetensors         the moving average of the bridge's weights (only with --ema-decay), bridge keys
    trainer_state.json      step, optimizer param_groups, training arguments, early-stopping tracker

A bridge or probe on the Hugging Face Hub is a model repository holding the served files and README.md (fusion.hub
downloads only the served files). Only safetensors and JSON: pickle files are refused, never loaded. Every reader and writer (FusedModel, EncoderProbe,
training, evaluation, the app, the benchmarks) goes through these functions.
"""
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import FusionConfig
from .errors import CheckpointError, ConfigError
from .files import read_json, write_json_atomic

CONFIG_FILE = "config.json"
BRIDGE_FILE = "bridge.safetensors"
CARD_FILE = "README.md"
RESULTS_FILE = "train_results.json"
METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "learning_curve.png"
PROBE_CONFIG_FILE = "probe_config.json"
PROBE_WEIGHTS_FILE = "probe.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_STATE_FILE = "trainer_state.json"
EMA_FILE = "ema.safetensors"
SHIPPED_FILES = (CONFIG_FILE, BRIDGE_FILE, CARD_FILE, RESULTS_FILE, METRICS_FILE, CURVE_FILE)  # training.export
SERVED_BRIDGE_FILES = (CONFIG_FILE, BRIDGE_FILE)              # what loading a bridge reads (a Space's deploy)
SERVED_PROBE_FILES = (PROBE_CONFIG_FILE, PROBE_WEIGHTS_FILE)   # what loading a probe reads
PUSHED_BRIDGE_FILES = SERVED_BRIDGE_FILES + (CARD_FILE,)      # what push_to_hub / training.push upload
PUSHED_PROBE_FILES = SERVED_PROBE_FILES + (CARD_FILE,)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "checkpoints"   # the bridges and probes this repository ships


def is_checkpoint(path) -> bool:
    """Whether `path` looks like a bridge checkpoint (it has a config); loading checks the rest."""
    return (Path(path) / CONFIG_FILE).is_file()


def is_probe(path) -> bool:
    """Whether `path` looks like an encoder-alone probe (it has a probe config); loading checks the rest."""
    return (Path(path) / PROBE_CONFIG_FILE).is_file()


def check_dir(path) -> Path:
    """The checkpoint directory, or CheckpointError saying what is missing (or that it holds pickle files)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory {str(path)!r} does not exist")
    if not (path / BRIDGE_FILE).is_file():
        pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise CheckpointError(f"{path} holds pickle files ({', '.join(pickles)}) and no {BRIDGE_FILE}: "
                                  f"pickle files can run arbitrary code and are never loaded; "
                                  f"save checkpoints with save_pretrained (safetensors)")
        raise CheckpointError(f"{path} has no {BRIDGE_FILE}: not a checkpoint written by save_pretrained")
    if not (path / CONFIG_FILE).is_file():
        raise CheckpointError(f"{path} has no {CONFIG_FILE}: not a checkpoint written by save_pretrained")
    return path


def read_config(path) -> FusionConfig:
    """The FusionConfig of checkpoint directory `path`."""
    file = Path(path) / CONFIG_FILE
    data = read_json(file, CheckpointError)
    if not isinstance(data, dict) or data.get("model_type") != FusionConfig.model_type:
        found = data.get("model_type") if isinstance(data, dict) else None
        raise CheckpointError(f"{file} is not a LayerBridge config (model_type {found!r})")
    try:
        return FusionConfig.from_dict(data)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{file} has an invalid config: {e}") from e


def load_bridge(path, bridge: torch.nn.Module):
    """Load checkpoint `path`'s weights into `bridge` (in place, as float32) after checking that the file is
    readable and that its keys and shapes are exactly the bridge's."""
    file = Path(path) / BRIDGE_FILE
    expected = bridge.state_dict()
    try:
        state = load_file(str(file), device=str(next(bridge.parameters()).device))
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise CheckpointError(f"{file} is not a readable safetensors file: {e}") from e
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise CheckpointError(f"{file} does not match a {bridge.config.strategy!r} bridge: "
                              f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    shapes = {k: (tuple(v.shape), tuple(state[k].shape)) for k, v in expected.items()
              if tuple(v.shape) != tuple(state[k].shape)}
    if shapes:
        raise CheckpointError(f"{file} was built for other model widths: " +
                              "; ".join(f"{k} expects {a}, file has {b}" for k, (a, b) in list(shapes.items())[:5]))
    bridge.load_state_dict({k: v.float() for k, v in state.items()})


def save(path, config: FusionConfig, bridge: torch.nn.Module, model_card: str | None = None,
         dtype: torch.dtype = torch.float32) -> Path:
    """Write config.json + bridge.safetensors (the bridge's weights only) [+ README.md]."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(path)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in bridge.state_dict().items()}
    save_file(state, str(path / BRIDGE_FILE), metadata={"format": "pt", "strategy": config.strategy})
    if model_card is not None:
        write_card(path, model_card)
    return path


def write_card(path, text: str):
    (Path(path) / CARD_FILE).write_text(text, encoding="utf-8")


def read_card(path) -> str | None:
    file = Path(path) / CARD_FILE
    return file.read_text(encoding="utf-8") if file.is_file() else None


def copy(src, dst) -> Path:
    """Ship checkpoint `src`: copy its files (SHIPPED_FILES, those it has) into `dst`."""
    src, dst = check_dir(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    return dst


def file_sha256(path) -> str | None:
    """The SHA-256 of a file's bytes (read in 1 MiB blocks), or None when it is not there."""
    path = Path(path)
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_sha256(path) -> str | None:
    """sha256 of the weights file of a bridge (or a probe): what identifies a trained checkpoint in results files."""
    path = Path(path)
    return file_sha256(path / (PROBE_WEIGHTS_FILE if is_probe(path) else BRIDGE_FILE))


# ---------------------------------------------------------------- encoder-alone probes

def save_probe(path, config: dict, weight: torch.Tensor, bias: torch.Tensor):
    """probe_config.json (`config`) + probe.safetensors (weight [K, D], bias [K])."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / PROBE_CONFIG_FILE).write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")
    save_file({"weight": weight.contiguous(), "bias": bias.contiguous()}, str(path / PROBE_WEIGHTS_FILE),
              metadata={"format": "pt"})


def read_probe(path) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """(probe_config.json's contents, weight [K, D], bias [K]) of a probe directory, both files readable."""
    path = Path(path).expanduser()
    if not is_probe(path) or not (path / PROBE_WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{path} is not a probe directory: it needs {PROBE_CONFIG_FILE} and "
                              f"{PROBE_WEIGHTS_FILE} (written by EncoderProbe.save_pretrained)")
    config = read_json(path / PROBE_CONFIG_FILE, CheckpointError)
    if not isinstance(config, dict):
        raise CheckpointError(f"{path / PROBE_CONFIG_FILE} does not hold a JSON object")
    try:
        state = load_file(str(path / PROBE_WEIGHTS_FILE))
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise CheckpointError(f"{path / PROBE_WEIGHTS_FILE} is not a readable safetensors file: {e}") from e
    if "weight" not in state or "bias" not in state:
        raise CheckpointError(f"{path / PROBE_WEIGHTS_FILE} holds no classifier (weight and bias)")
    return config, state["weight"].float(), state["bias"].float()


# ---------------------------------------------------------------- how it was trained, and who it is

def read_train_results(path) -> dict:
    """The checkpoint's train_results.json; {} where it has none. CheckpointError where it is not a JSON object."""
    file = Path(path) / RESULTS_FILE
    if not file.is_file():
        return {}
    data = read_json(file, CheckpointError)
    if not isinstance(data, dict):
        raise CheckpointError(f"{file} does not hold a JSON object")
    return data


def write_train_results(path, summary: dict):
    """train_results.json (written whole or not at all), in the layout training.train has always used."""
    write_json_atomic(Path(path) / RESULTS_FILE, summary)


def data_variant(sentence_chunks: int) -> str:
    """train_results.json's "train_variant": how the training (and dev) texts departed from the task's whole texts,
    "sentences<=N" (runs of at most N sentences), or "" for none."""
    return f"sentences<={sentence_chunks}" if sentence_chunks > 0 else ""


def sentence_chunks(train_variant: str) -> int:
    """data_variant's inverse: N of "sentences<=N"; 0 for whole texts ("")."""
    return int(train_variant.removeprefix("sentences<=")) if train_variant.startswith("sentences<=") else 0


def variant_tag(train_variant: str) -> str:
    """A variant's short name, as the app's settings and the probes' results names use it: "sentences<=1" ->
    "sent", "sentences<=N" -> "sentN", "" -> ""."""
    if not train_variant:
        return ""
    n = sentence_chunks(train_variant)
    return "sent" if n == 1 else f"sent{n}"


@dataclass(frozen=True)
class CheckpointInfo:
    """Who a checkpoint is, from its own files: the kind and backbones from its config, what it was trained on
    from train_results.json. Renaming its folder changes none of this."""
    path: Path
    kind: str                       # "fused" (a bridge) or "probe" (the encoder alone)
    encoder: str | None
    llm: str | None                 # None for a probe
    strategy: str | None            # a bridge's fusion strategy (config.json); None for a probe
    task: str | None                # the training task (train_results.json; a probe's config also has it)
    seed: int | None
    train_variant: str = ""         # "" = the task's own texts

    @property
    def variant(self) -> str:
        return variant_tag(self.train_variant)


def identify(path) -> CheckpointInfo | None:
    """The CheckpointInfo of a bridge or probe directory; None for anything else (or unreadable metadata)."""
    path = Path(path)
    try:
        if is_checkpoint(path):
            config = read_json(path / CONFIG_FILE, CheckpointError)
            if not isinstance(config, dict) or config.get("model_type") != FusionConfig.model_type:
                return None
            kind, strategy, llm, task = "fused", config.get("strategy"), config.get("llm"), None
        elif is_probe(path):
            config = read_json(path / PROBE_CONFIG_FILE, CheckpointError)
            if not isinstance(config, dict):
                return None
            kind, strategy, llm, task = "probe", None, None, config.get("task")
        else:
            return None
        trained = read_train_results(path)
    except CheckpointError:
        return None
    seed = trained.get("seed")
    return CheckpointInfo(path=path, kind=kind, encoder=config.get("encoder"), llm=llm, strategy=strategy,
                          task=trained.get("task") or task,
                          seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                          train_variant=str(trained.get("train_variant") or ""))


def scan(root) -> list[CheckpointInfo]:
    """The bridges and probes directly under `root`, in name order."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = (identify(p) for p in sorted(root.iterdir()) if p.is_dir())
    return [info for info in found if info is not None]


# ---------------------------------------------------------------- training state

def save_training_state(path, optimizer: torch.optim.Optimizer, meta: dict, ema: dict | None = None):
    """optimizer.safetensors (the state tensors) + trainer_state.json (`meta` and the optimizer's param_groups)
    [+ ema.safetensors: `ema`, a bridge state dict of averaged weights]."""
    path = Path(path)
    if ema is not None:
        save_file({k: v.detach().cpu().contiguous() for k, v in ema.items()}, str(path / EMA_FILE))
    sd = optimizer.state_dict()
    tensors = {f"{i}.{k}": v.detach().cpu().contiguous().reshape(v.shape) for i, st in sd["state"].items()
               for k, v in st.items() if torch.is_tensor(v)}
    save_file(tensors, str(path / OPTIMIZER_FILE))
    (path / TRAINER_STATE_FILE).write_text(json.dumps({**meta, "param_groups": sd["param_groups"]}, indent=1))


def read_training_meta(path) -> dict:
    return read_json(Path(path) / TRAINER_STATE_FILE, CheckpointError)


def read_ema(path) -> dict | None:
    """The averaged bridge weights a training checkpoint holds, or None where it has none."""
    file = Path(path) / EMA_FILE
    return load_file(str(file)) if file.is_file() else None


def load_training_state(path, optimizer: torch.optim.Optimizer) -> dict:
    """Restore the optimizer from a training checkpoint; returns trainer_state.json's contents."""
    meta = read_training_meta(path)
    opt_state = {}
    for key, v in load_file(str(Path(path) / OPTIMIZER_FILE)).items():
        i, name = key.split(".", 1)
        opt_state.setdefault(int(i), {})[name] = v
    optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    return meta
