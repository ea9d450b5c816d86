import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the product must work without the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from fusion import FusedModel

BENCHDATA = Path(__file__).resolve().parents[1].parent / "shared" / "benchdata"


def pytest_configure(config):
    config.addinivalue_line("markers", "pocket: runs the real pocket weights (slower)")


@pytest.fixture(scope="session")
def benchdata() -> Path:
    if not BENCHDATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {BENCHDATA}")
    return BENCHDATA


@pytest.fixture(autouse=True, scope="session")
def float32_by_default():
    """In-process "auto" precision resolves to float32 in tests, whatever this CPU computes natively: most tests
    prove exact equivalences. The bfloat16 tests ask for it explicitly; tests/test_precision.py mocks the checks."""
    import fusion.precision
    with pytest.MonkeyPatch.context() as patch:  # session-wide: module fixtures are built before function ones
        patch.setattr(fusion.precision, "cpu_has_native_bf16", lambda: False)
        yield


def tiny(strategy="transformer-softmax", dtype="float32", **overrides) -> FusedModel:
    torch.manual_seed(0)
    model = FusedModel.from_preset("tiny", strategy=strategy, device="cpu", dtype=dtype, **overrides)
    # give the untrained bridge non-trivial weights so that comparisons can fail
    with torch.no_grad():
        for p in model.bridge.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.fixture(scope="session")
def pocket_model():
    return FusedModel.from_preset("pocket", strategy="transformer-softmax", device="cpu", dtype="float32")
