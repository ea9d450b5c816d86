"""The one place that knows a checkpoint's layout. A bridge checkpoint is a directory:

    config.json             FusionConfig (transformers PretrainedConfig JSON, model_type "layerbridge")
    bridge.safetensors      the bridge's weights only (fusion + mapping + boundary), float32
    README.md               model card (optional)

and a training checkpoint (training.train's checkpoint-<step>/) adds

    optimizer.safetensors   AdamW state tensors, keyed "<param index>.<name>"
    ema.safetensors         the moving average of the bridge's weights (only with --ema-decay), bridge keys
    trainer_state.json      step, optimizer param_groups, training arguments, early-stopping tracker

Only safetensors and JSON: pickle files are refused, never loaded. Every reader and writer (FusedModel, training,
evaluation, the app, the benchmarks) goes through these functions.
"""
import hashlib
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import FusionConfig
from .errors import CheckpointError, ConfigError

CONFIG_FILE = "config.json"
BRIDGE_FILE = "bridge.safetensors"
CARD_FILE = "README.md"
OPTIMIZER_FILE = "optimizer.safetensors"
TRAINER_STATE_FILE = "trainer_state.json"
EMA_FILE = "ema.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def is_checkpoint(path) -> bool:
    """Whether `path` looks like a bridge checkpoint (it has a config); loading checks the rest."""
    return (Path(path) / CONFIG_FILE).is_file()


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
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file} is not a readable JSON config: {e}") from e
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
        (path / CARD_FILE).write_text(model_card, encoding="utf-8")
    return path


def copy(src, dst, extra=()) -> Path:
    """Copy checkpoint `src` (config, weights and model card if any) and the files named in `extra` that exist
    into `dst`."""
    src, dst = check_dir(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, BRIDGE_FILE, CARD_FILE, *extra):
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
    """sha256 of the bridge's weights file: what identifies a trained checkpoint in results files."""
    return file_sha256(Path(path) / BRIDGE_FILE)


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
    return json.loads((Path(path) / TRAINER_STATE_FILE).read_text())


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
