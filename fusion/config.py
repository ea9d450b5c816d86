"""FusionConfig: everything that describes a fused encoder -> LLM model, as a transformers PretrainedConfig."""
from transformers import PretrainedConfig

from .errors import ConfigError
from .strategies import STRATEGY_REGISTRY

MAPPINGS = ("linear", "mlp")


class FusionConfig(PretrainedConfig):
    """Describes a fused model: which frozen encoder and LLM, how the encoder's layers are fused and mapped.

    encoder / llm: a packaged name (see `fusion.backbones.PACKAGED`), a local directory, or a hub id.
    strategy: a name in fusion.strategies.STRATEGY_REGISTRY: "last" (LangBridge baseline), "global-softmax",
        "transformer-softmax" (the paper's), "residual-softmax" (this project's variant: h_L + a gated global softmax
        over all layers, starting at h_L), or any strategy registered since.
    layers: encoder layer outputs to fuse, 1-based (hidden_states[i]); None = every layer output,
        the embedding output (index 0) excluded.
    layer_norm: normalise each layer (parameter-free LayerNorm) before mixing. mT5 intermediate states
        are raw residual streams with very different scales, so this is on by default.
    mapping: "linear" (reference) or "mlp" (Linear -> GELU -> Linear).
    fusion_entropy_weight: training only: the loss minus this times the mean entropy (nats) of each token's layer
        weights, a bonus that keeps a per-token fusion from collapsing onto one layer (0 = off, the paper's loss).
    transformer_last_layer_init: transformer softmax: the initial logit of the last layer (its to_logits bias;
        the others start at 0), so training starts near the LangBridge baseline (0 = the paper's equal start).
    The *_size / num_encoder_layers fields are filled in from the backbones when the model is built,
    and checked again when a checkpoint is loaded.
    """

    model_type = "layerbridge"

    def __init__(
        self,
        encoder: str = "tiny-mt5-encoder",
        llm: str = "tiny-gemma3",
        strategy: str = "transformer-softmax",
        layers: list[int] | None = None,
        layer_norm: bool = True,
        mapping: str = "linear",
        max_encoder_length: int = 200,
        max_target_length: int = 32,
        encoder_text_prefix: str = "",
        # global softmax: alpha = softmax((temperature_base + temperature_scale * t) * w)
        temperature_base: float = 100.0,
        temperature_scale: float = 1e5,
        temperature_init: float = 1e-5,
        # transformer softmax: one post-norm TransformerEncoderLayer over [CLS; h_1 + p_1; ...; h_L + p_L]
        transformer_dropout: float = 0.1,
        transformer_ffn_multiplier: int = 2,
        transformer_last_layer_init: float = 0.0,
        fusion_entropy_weight: float = 0.0,
        encoder_hidden_size: int | None = None,
        num_encoder_layers: int | None = None,
        llm_hidden_size: int | None = None,
        encoder_fingerprint: str | None = None,
        llm_fingerprint: str | None = None,
        **kwargs,
    ):
        self.encoder = encoder
        self.llm = llm
        self.strategy = strategy
        self.layers = list(layers) if layers is not None else None
        self.layer_norm = layer_norm
        self.mapping = mapping
        self.max_encoder_length = max_encoder_length
        self.max_target_length = max_target_length
        self.encoder_text_prefix = encoder_text_prefix
        self.temperature_base = temperature_base
        self.temperature_scale = temperature_scale
        self.temperature_init = temperature_init
        self.transformer_dropout = transformer_dropout
        self.transformer_ffn_multiplier = transformer_ffn_multiplier
        self.transformer_last_layer_init = transformer_last_layer_init
        self.fusion_entropy_weight = fusion_entropy_weight
        self.encoder_hidden_size = encoder_hidden_size
        self.num_encoder_layers = num_encoder_layers
        self.llm_hidden_size = llm_hidden_size
        self.encoder_fingerprint = encoder_fingerprint
        self.llm_fingerprint = llm_fingerprint
        super().__init__(**kwargs)
        self.validate_names()

    def validate_names(self):
        if self.strategy not in STRATEGY_REGISTRY:
            raise ConfigError(f"unknown fusion strategy {self.strategy!r}; choose one of "
                              f"{', '.join(STRATEGY_REGISTRY)}")
        if self.mapping not in MAPPINGS:
            raise ConfigError(f"unknown mapping {self.mapping!r}; choose one of {', '.join(MAPPINGS)}")
        if not isinstance(self.max_encoder_length, int) or self.max_encoder_length < 4:
            raise ConfigError(f"max_encoder_length must be an integer >= 4, got {self.max_encoder_length!r}")
        if not isinstance(self.fusion_entropy_weight, (int, float)) or self.fusion_entropy_weight < 0:
            raise ConfigError(f"fusion_entropy_weight must be a number >= 0, got {self.fusion_entropy_weight!r}")
        if self.layers is not None and (not self.layers or any(not isinstance(i, int) or i < 1 for i in self.layers)):
            raise ConfigError(f"layers must be a non-empty list of 1-based layer indices, got {self.layers!r}")

    def fused_layers(self) -> list[int]:
        """1-based indices into the encoder's hidden_states that are fused (needs num_encoder_layers)."""
        n = self.num_encoder_layers
        layers = self.layers if self.layers is not None else list(range(1, n + 1))
        bad = [i for i in layers if i > n]
        if bad:
            raise ConfigError(f"layers {bad} do not exist: the encoder has {n} layers (1..{n})")
        return layers
