"""Running the app in-process, for tests and scripted checks: untrained checkpoints and a launched server."""
import socket
from pathlib import Path

import torch

from fusion import FusedModel
from fusion.config import STRATEGIES

from .settings import FAMILY_ORDER


def save_untrained_checkpoints(root, preset: str = "tiny", families=FAMILY_ORDER, strategies=STRATEGIES,
                               noise: float = 0.1, seed: int = 0) -> Path:
    """root/<preset>-<family>-<strategy>/ for each pair: an untrained bridge (plus a little noise, so that the
    strategies differ) saved with save_pretrained, the way the app finds trained ones."""
    root = Path(root)
    model = None
    for family in families:
        for strategy in strategies:
            torch.manual_seed(seed)
            if model is None:
                model = FusedModel.from_preset(preset, strategy=strategy, device="cpu")
            config = type(model.config).from_dict({**model.config.to_dict(), "strategy": strategy})
            bridge = FusedModel(config, model.encoder, model.encoder_tokenizer, model.llm, model.llm_tokenizer)
            with torch.no_grad():
                for p in bridge.bridge.parameters():
                    p.add_(torch.randn_like(p) * noise)
            bridge.save_pretrained(root / f"{preset}-{family}-{strategy}")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo, port: int | None = None) -> str:
    """Start the app on 127.0.0.1 without blocking; returns its URL (close with demo.close())."""
    import app
    port = port or free_port()
    app.serve(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"
