"""LayerBridge: fuse all layers of a frozen multilingual encoder into a frozen English-centric LLM."""
from .config import MAPPINGS, FusionConfig
from .errors import (BackboneUnavailableError, CheckpointError, ConfigError, DataError, HubError, InputError,
                     LayerBridgeError)
from .interface import ModelKind
from .model import FusedModel
from .plain import PlainLLM
from .precision import PRECISIONS, resolve_dtype
from .probe import EncoderProbe
from .presets import PRESETS, preset_config
from .spec import ModelSpec, parse_model_spec
from .strategies import STRATEGY_REGISTRY, Strategy, register_strategy, strategy_names


def load_model(spec: "str | ModelSpec", strategy: str | None = None, device=None, dtype="auto"):
    """A model with the fusion.interface.ModelKind interface, from a model spec (fusion.spec): a checkpoint
    directory (a bridge, or an encoder-alone probe) or its Hub id "USER/NAME[@revision]", a preset name (untrained bridge; `strategy` picks its fusion),
    "plain:<llm>" for the LLM alone, or "probe:<preset>" resolved for a task (ModelSpec.resolve)."""
    spec = parse_model_spec(spec)
    if strategy:
        spec = spec.with_strategy(strategy)
    return spec.load(device=device, dtype=dtype)
