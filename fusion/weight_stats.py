"""How a fusion spreads its weight over the encoder's layers, per token: the numbers that tell a per-token fusion
that reads several layers from one that has collapsed onto a single layer (a hard choice per token).

Input: per text, its token weights [T_i, L] (each row sums to 1). All three are means over every token of every text.
- entropy: the entropy of a token's layer weights, in nats (0 = one layer; ln L = all layers equally);
- max_weight: a token's largest layer weight (1 = one layer);
- token_variation: how far a token's weights are from its text's mean mix, as total variation distance
  (0 = every token of a text uses the same mix, as global softmax does by construction; at most 1).
"""
import math

import torch


def token_entropy(weights: torch.Tensor) -> torch.Tensor:
    """weights [..., L] (rows summing to 1, zero rows allowed) -> entropy in nats [...]; 0 log 0 = 0."""
    w = weights.float()
    return -(w * torch.log(w.clamp_min(1e-12))).sum(-1)


def weight_stats(token_weights: list) -> dict:
    """token_weights: per text, a [T_i, L] tensor or nested list. Returns entropy, max_weight, token_variation
    (means over all tokens) and the number of tokens; {} when there are none."""
    rows = [torch.as_tensor(w, dtype=torch.float32) for w in token_weights if len(w)]
    if not rows:
        return {}
    tokens = torch.cat(rows)                                                # [N, L]
    variation = torch.cat([0.5 * (w - w.mean(0)).abs().sum(-1) for w in rows])  # [N]
    return {"entropy": round(token_entropy(tokens).mean().item(), 4),
            "max_weight": round(tokens.max(-1).values.mean().item(), 4),
            "token_variation": round(variation.mean().item(), 4),
            "max_entropy": round(math.log(tokens.shape[-1]), 4), "tokens": int(tokens.shape[0])}
