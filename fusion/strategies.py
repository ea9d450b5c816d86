"""The ways of fusing the encoder's layer outputs per token (paper.md), each returning its weights, and the one
registry of them (`STRATEGY_REGISTRY`) that the config, training, evaluation, the app and the scripts read.

Input: `states` [L, B, T, D] (the fused layers, already normalised if configured) and `mask` [B, T] (1 = token).
Output: fused [B, T, D] and weights [B, T, L] (pad tokens 0). A strategy whose weights are shared by every token
may also expose them as `layer_weights()` [L] (logged during training, stated in the model card).

A new strategy is one nn.Module class and one `register_strategy(Strategy(...))` entry: nothing else changes.
"""
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

if TYPE_CHECKING:
    from .config import FusionConfig


@dataclass(frozen=True)
class Strategy:
    """A fusion strategy: its name (FusionConfig.strategy), the module that fuses, and what is said about it."""
    name: str
    module: type                # nn.Module(config, num_layers, dim); forward(states, mask) -> fused, weights
    label: str                  # a short label for a selector, e.g. "last layer (LangBridge baseline)"
    description: str            # what it computes, one sentence (model cards)
    weights_meaning: str        # what its layer weights mean, one line (model cards; the app's weight views)
    per_token: bool             # whether the weights can differ between the tokens of one text
    fusion_lr: float | None = None   # training's default learning rate for its fusion module (None: the mapping's)


STRATEGY_REGISTRY: dict[str, Strategy] = {}   # name -> Strategy, in the order they were registered


def register_strategy(strategy: Strategy) -> Strategy:
    STRATEGY_REGISTRY[strategy.name] = strategy
    return strategy


def strategy_names() -> list[str]:
    """The registered strategies' names, in registration order."""
    return list(STRATEGY_REGISTRY)


class LastLayer(nn.Module):
    """LangBridge baseline: H = h_L. Its weights are one-hot on the last fused layer."""

    def __init__(self, config: "FusionConfig", num_layers: int, dim: int):
        super().__init__()
        self.num_layers = num_layers

    def forward(self, states, mask):
        fused = states[-1]                                                  # [B, T, D]
        weights = torch.zeros(*mask.shape, self.num_layers, device=states.device, dtype=states.dtype)
        weights[..., -1] = 1.0
        return fused, weights * mask[..., None]                             # [B, T, D], [B, T, L]


class GlobalSoftmax(nn.Module):
    """alpha = softmax(tau * w), tau = base + scale * t (t learned); one weight per layer, shared by all tokens."""

    def __init__(self, config: "FusionConfig", num_layers: int, dim: int):
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(num_layers))            # w: equal init
        self.temperature = nn.Parameter(torch.tensor(float(config.temperature_init)))  # t
        self.temperature_base = config.temperature_base
        self.temperature_scale = config.temperature_scale

    def temperature_parameters(self):
        return [self.temperature]

    def layer_weights(self):
        tau = self.temperature_base + self.temperature_scale * self.temperature
        return torch.softmax(tau * self.layer_logits, dim=0)                # [L]

    def forward(self, states, mask):
        alpha = self.layer_weights().to(states.dtype)                       # [L]
        fused = torch.einsum("l,lbtd->btd", alpha, states)                  # [B, T, D]
        weights = alpha.expand(*mask.shape, -1) * mask[..., None]           # [B, T, L]
        return fused, weights


class FusionBlock(nn.Module):
    """One post-norm transformer encoder layer with a ReLU feed-forward, written out. Its submodules are named and
    built in the order of nn.TransformerEncoderLayer's (self_attn, linear1, linear2, norm1, norm2), so bridges
    saved with that layer load unchanged and the same seed gives the same initial weights."""

    def __init__(self, dim: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads=1, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout = nn.Dropout(dropout)                                  # inside the feed-forward
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout1 = nn.Dropout(dropout)                                 # after the attention
        self.dropout2 = nn.Dropout(dropout)                                 # after the feed-forward

    def feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(torch.relu(self.linear1(x)))))  # [n, Q, D]

    def forward(self, seq, queries=None):
        """seq [n, S, D]; queries [n, Q, D]: the positions whose outputs are needed (default: all of seq). Each query
        attends over all S positions; the residuals, norms and feed-forward run on the Q query rows only."""
        q = seq if queries is None else queries
        attended = self.self_attn(q, seq, seq, need_weights=False)[0]      # [n, Q, D]
        h = self.norm1(q + self.dropout1(attended))
        return self.norm2(h + self.feed_forward(h))                         # [n, Q, D]


TOKENS_PER_CHUNK = 256  # transformer softmax: tokens per block call (bounds its activations at large batches)


class TransformerSoftmax(nn.Module):
    """Per token: [c; h_1 + p_1; ...; h_L + p_L] -> one post-norm transformer layer (FusionBlock) -> Linear(D -> L) on
    the CLS output -> beta = softmax over layers; H[t] = sum_l beta[t, l] h_l[t]. Tokens never see each other."""

    def __init__(self, config: "FusionConfig", num_layers: int, dim: int):
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(dim))                           # c
        self.layer_position = nn.Parameter(torch.zeros(num_layers, dim))    # p_l
        nn.init.normal_(self.layer_position, std=0.02)
        self.block = FusionBlock(dim, config.transformer_ffn_multiplier * dim, config.transformer_dropout)
        self.to_logits = nn.Linear(dim, num_layers)
        if config.transformer_last_layer_init:                              # start near the last layer
            with torch.no_grad():
                self.to_logits.bias[-1] += config.transformer_last_layer_init

    def forward(self, states, mask):
        L, B, T, D = states.shape
        keep = mask.bool()                                                  # [B, T]
        tokens = states.permute(1, 2, 0, 3)[keep]                           # [N, L, D]  non-pad tokens only
        seq = torch.cat([self.cls.to(tokens.dtype).expand(tokens.shape[0], 1, D),
                         tokens + self.layer_position.to(tokens.dtype)], dim=1)  # [N, L + 1, D]
        # tokens are independent: run them in chunks so that the block's [n, L + 1, D] activations stay small at
        # large batches (exact)
        cls_out = torch.cat([self.cls_output(part) for part in seq.split(TOKENS_PER_CHUNK)])  # [N, D]
        beta_tokens = torch.softmax(self.to_logits(cls_out), dim=-1)        # [N, L]
        weights = states.new_zeros(B, T, L)
        weights[keep] = beta_tokens.to(weights.dtype)                       # [B, T, L], pads 0
        fused = torch.einsum("btl,lbtd->btd", weights, states)              # [B, T, D]
        return fused, weights

    def cls_output(self, seq):
        """self.block(seq)[:, 0], computing only what the CLS position needs: its query attends over all L + 1
        positions, and the residual, norms and feed-forward run on that one row, not on L + 1 of them (~4x fewer
        FLOPs for 12 layers). seq [n, L + 1, D] -> [n, D]. Same dropouts in training."""
        return self.block(seq, queries=seq[:, :1])[:, 0]                    # [n, D]


class ResidualSoftmax(nn.Module):
    """Keep the last layer, add what the others know: H = h_L + g * sum_l alpha_l h_l, alpha = softmax(w) over the
    layers (shared by all tokens), g [D] a per-dimension gate initialised at 0, so training starts exactly at the
    LangBridge baseline and moves away from it only as far as the English loss asks. Weights shown: the effective
    share of each layer, (1[l = L] + |g|_mean alpha_l) / (1 + |g|_mean)."""

    def __init__(self, config: "FusionConfig", num_layers: int, dim: int):
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(num_layers))            # w: equal init
        self.gate = nn.Parameter(torch.zeros(dim))                          # g: 0 = last layer only

    def layer_weights(self):
        alpha = torch.softmax(self.layer_logits, dim=0)                     # [L]
        g = self.gate.abs().mean()
        last = torch.zeros_like(alpha)
        last[-1] = 1.0
        return (last + g * alpha) / (1 + g)                                 # [L], sums to 1

    def forward(self, states, mask):
        alpha = torch.softmax(self.layer_logits, dim=0).to(states.dtype)    # [L]
        mixed = torch.einsum("l,lbtd->btd", alpha, states)                  # [B, T, D]
        fused = states[-1] + self.gate.to(states.dtype) * mixed             # [B, T, D]
        weights = self.layer_weights().to(states.dtype).expand(*mask.shape, -1) * mask[..., None]  # [B, T, L]
        return fused, weights


register_strategy(Strategy(
    "last", LastLayer, label="last layer (LangBridge baseline)",
    description="the encoder's last layer only, H = h_L (LangBridge's baseline)",
    weights_meaning="one-hot on the encoder's last layer by construction, the same for every token; nothing is "
                    "learned", per_token=False))
register_strategy(Strategy(
    "global-softmax", GlobalSoftmax, label="global softmax (one weight per layer)",
    description="one learned weight per layer, alpha = softmax(tau w), H = sum_l alpha_l h_l",
    weights_meaning="one learned weight per layer, softmax(tau w): the same mix for every token of every input",
    per_token=False))
register_strategy(Strategy(
    "transformer-softmax", TransformerSoftmax, label="transformer softmax (weights per token)",
    description="a small transformer reads each token's L layer states and gives that token its own softmax "
                "weights over the layers, H[t] = sum_l beta[t, l] h_l[t] (the paper's)",
    weights_meaning="every token gets its own mix over the layers, computed by a small transformer from that token's "
                    "layer states, so rows differ from token to token and from input to input",
    per_token=True,
    # chosen on English dev over 3 seeds (docs/fusion.md, ablation arm flr): at the mapping's 2e-3 every run collapsed
    # onto one layer per token (mean largest weight 0.996-1.000, dev 0.818-0.838); at 1e-4 none did (0.46-0.55, dev
    # 0.828-0.859)
    fusion_lr=1e-4))
register_strategy(Strategy(
    "residual-softmax", ResidualSoftmax, label="residual softmax (last layer + gated mix)",
    description="the last layer plus a gated mix of all layers, H = h_L + g * sum_l alpha_l h_l, alpha = softmax(w), "
                "g per dimension, starting at 0 (this project's)",
    weights_meaning="each layer's effective share, (1[l = L] + mean|g| alpha_l) / (1 + mean|g|): the last layer plus "
                    "a gated, learned mix of all layers, the same for every token of every input", per_token=False))


class Mapping(nn.Module):
    """Encoder width -> LLM embedding width: Linear (reference) or Linear -> GELU -> Linear."""

    def __init__(self, kind: str, dim_in: int, dim_out: int):
        super().__init__()
        if kind == "linear":
            self.net = nn.Linear(dim_in, dim_out)
        else:
            self.net = nn.Sequential(nn.Linear(dim_in, dim_out), nn.GELU(), nn.Linear(dim_out, dim_out))

    def forward(self, x):
        return self.net(x)


class Bridge(nn.Module):
    """Everything that is trained: fusion + mapping + the learned end-of-prompt boundary vector."""

    def __init__(self, config: "FusionConfig"):
        super().__init__()
        self.config = config
        self.layers = config.fused_layers()                                 # 1-based indices into hidden_states
        dim = config.encoder_hidden_size
        self.fusion = STRATEGY_REGISTRY[config.strategy].module(config, len(self.layers), dim)
        self.mapping = Mapping(config.mapping, dim, config.llm_hidden_size)
        self.boundary = nn.Parameter(torch.zeros(config.llm_hidden_size))

    def param_groups(self, lr: float, temperature_lr: float | None = None,
                     fusion_lr: float | None = None) -> list[dict]:
        """Optimizer groups: the mapping and boundary at `lr`; the fusion module's own parameters at `fusion_lr`
        (None = lr); global softmax's temperature t at `temperature_lr` (tau = base + 1e5 t moves 1e5 times faster
        than t). Empty groups are left out."""
        temperature = list(getattr(self.fusion, "temperature_parameters", list)())
        is_temperature = lambda p: any(p is t for t in temperature)
        fusion = [p for p in self.fusion.parameters() if not is_temperature(p)]
        others = [p for p in self.parameters() if not is_temperature(p) and all(p is not f for f in fusion)]
        groups = [{"params": others, "lr": lr}, {"params": fusion, "lr": fusion_lr or lr},
                  {"params": temperature, "lr": temperature_lr or lr}]
        return [g for g in groups if g["params"]]

    def fuse(self, hidden_states, mask, centering=None):
        """hidden_states: the encoder's tuple of [B, T, D] (index 0 = embeddings); mask [B, T]; centering: None, or
        (scale [L, B, 1, 1], offset [L, B, 1, D], where [1, B, T, 1] bool or None = every token) moving each text's
        states onto English's (fusion.centering). Returns fused [B, T, D] and fusion weights [B, T, L] (pads 0)."""
        states = torch.stack([hidden_states[i] for i in self.layers]).float()  # [L, B, T, D]
        if self.config.layer_norm:
            states = nn.functional.layer_norm(states, states.shape[-1:])
        if centering is not None:
            scale, offset, where = centering
            moved = states * scale + offset                                 # [L, B, T, D]
            states = moved if where is None else torch.where(where, moved, states)
        return self.fusion(states, mask.to(states.dtype))                   # [B, T, D], [B, T, L]

    def forward(self, hidden_states, mask, centering=None):
        """Returns mapped [B, T, D_llm] (pads 0) and fusion weights [B, T, L]."""
        fused, weights = self.fuse(hidden_states, mask, centering)
        mapped = self.mapping(fused) * mask[..., None].to(fused.dtype)      # [B, T, D_llm]
        return mapped, weights
