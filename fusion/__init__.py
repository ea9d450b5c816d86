"""LayerBridge: fuse all layers of a frozen multilingual encoder into a frozen English-centric LLM."""
from .config import MAPPINGS, STRATEGIES, FusionConfig
from .errors import (BackboneUnavailableError, CheckpointError, ConfigError, DataError, InputError,
                     LayerBridgeError)
from .interface import ModelKind
from .model import FusedModel
from .plain import PlainLLM
from .precision import PRECISIONS, resolve_dtype
from .probe import PROBE_CONFIG, EncoderProbe
from .presets import PRESETS, preset_config


def load_model(name_or_path: str, strategy: str | None = None, device=None, dtype="auto"):
    """A checkpoint directory (a bridge, or an encoder-alone probe), a preset name (untrained bridge), or
    "plain:<llm>" for the LLM alone: a model with the fusion.interface.ModelKind interface."""
    from pathlib import Path
    if name_or_path.startswith("plain:"):
        return PlainLLM.from_name(name_or_path.split(":", 1)[1], device=device, dtype=dtype)
    if name_or_path in PRESETS:
        overrides = {"strategy": strategy} if strategy else {}
        model = FusedModel.from_preset(name_or_path, device=device, dtype=dtype, **overrides)
        model.name = f"{name_or_path}-{strategy}" if strategy else name_or_path
        return model
    if (Path(name_or_path).expanduser() / PROBE_CONFIG).is_file():
        return EncoderProbe.from_pretrained(name_or_path, device=device, dtype=dtype)
    if Path(name_or_path).expanduser().is_dir():
        return FusedModel.from_pretrained(name_or_path, device=device, dtype=dtype)
    raise ConfigError(f"{name_or_path!r} is neither a checkpoint directory, a preset ({', '.join(PRESETS)}), "
                      f"nor plain:<llm name>")
