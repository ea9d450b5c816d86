"""One precision setting for the whole product: "auto" (default), "float32" or "bfloat16".

The frozen encoder and LLM run in the chosen dtype; the bridge's parameters, the optimizer state, the loss and
the log-softmax over the choices stay float32 whatever it is (fusion.model, fusion.scoring). "auto" picks
bfloat16 where the hardware computes it natively (CUDA GPUs that torch.cuda.is_bf16_supported says do so without
emulation: compute capability 8.0+, not a T4; CPUs with AVX512-BF16 or AMX), float32 elsewhere: without them
bf16 matmuls are emulated and slower than float32. float16 is never offered (mT5/T5 encoders overflow in it).
"""
import logging

import torch

from .errors import ConfigError

PRECISIONS = ("auto", "float32", "bfloat16")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
log = logging.getLogger("layerbridge.precision")


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX, by torch's own checks (torch.cpu, via cpuinfo)."""
    import torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def cuda_has_native_bf16() -> bool:
    """The current CUDA device computes bfloat16 natively, by torch's own check without emulation (compute
    capability 8.0+: A10G, L4, A100, H100/H200 yes; a T4 no: it only emulates bfloat16, slower than float32).
    Where the device cannot be queried (e.g. the main process of a ZeroGPU Space before a GPU is attached) float32."""
    import torch.cuda
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except (RuntimeError, AssertionError, AttributeError) as e:
        log.warning("could not ask the CUDA device whether it computes bfloat16 (%s): precision auto = float32", e)
        return False


def resolve_dtype(precision, device) -> torch.dtype:
    """"auto" | "float32" | "bfloat16" | a torch dtype (float32/bfloat16) -> the backbones' torch dtype."""
    if isinstance(precision, torch.dtype):
        precision = NAMES.get(precision, str(precision))
    if precision is None or precision == "auto":
        kind = torch.device(device).type
        native = cuda_has_native_bf16() if kind == "cuda" else kind == "cpu" and cpu_has_native_bf16()
        return torch.bfloat16 if native else torch.float32
    if precision not in DTYPES:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)} "
                          f"(float16 is not offered: T5-family encoders overflow in it)")
    return DTYPES[precision]


def precision_name(dtype: torch.dtype) -> str:
    return NAMES.get(dtype, str(dtype).replace("torch.", ""))
