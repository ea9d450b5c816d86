"""An exponential moving average of the bridge's weights over the training steps (torch.optim.swa_utils): the
averaged bridge is what is scored on English dev and shipped, so a run's result depends less on where its last
steps happened to land. The bridge is small (about 1.4M parameters for pocket), so the copy costs nothing measurable.
"""
from contextlib import contextmanager

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """avg <- decay * avg + (1 - decay) * weights after each optimizer step (the first update copies)."""

    def __init__(self, module: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the averaging decay must be in (0, 1), got {decay}")
        self.module = module
        self.averaged = AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(decay))

    def update(self):
        self.averaged.update_parameters(self.module)

    def state_dict(self) -> dict:
        """The averaged weights (the module's keys) and how many updates they hold ("n_averaged")."""
        return {**self.averaged.module.state_dict(), "n_averaged": self.averaged.n_averaged}

    def load_state_dict(self, state: dict):
        state = dict(state)
        self.averaged.n_averaged.copy_(state.pop("n_averaged"))
        self.averaged.module.load_state_dict(state)

    @contextmanager
    def swapped_in(self):
        """Inside the block the module holds the averaged weights (once there is an average); its own come back
        afterwards."""
        if int(self.averaged.n_averaged) == 0:
            yield
            return
        own = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        self.module.load_state_dict(self.averaged.module.state_dict())
        try:
            yield
        finally:
            self.module.load_state_dict(own)
