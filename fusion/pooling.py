"""Mean pooling of token states over the real tokens of each text (the fused model's alignment views and the
encoder-alone probe read texts this way)."""
import torch


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """states [B, T, D] (any dtype), mask [B, T] (1 = token) -> [B, D] float32, the mean over each text's tokens."""
    m = mask[..., None].float()                                                # [B, T, 1]
    return (states.float() * m).sum(1) / m.sum(1)                              # [B, D]
