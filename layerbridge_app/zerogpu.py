"""ZeroGPU, the GPUs Hugging Face Spaces lend per call (hub-docs: spaces-zerogpu.md): the `spaces` package imported
before anything touches CUDA, and one @spaces.GPU call per user action that reserves the seconds its work needs.

On a ZeroGPU Space, importing `spaces` is what lets the main process place the models on CUDA at start-up; each
@spaces.GPU call then runs them on the GPU it is lent. So app.py imports this module before anything that imports
torch or loads a model. Elsewhere the real package is effect-free (@spaces.GPU hands the function back as it is),
and where it is not installed `spaces` is None and nothing is wrapped.
"""
try:
    import spaces
except ImportError:
    spaces = None


def gpu(fn, duration):
    """fn under @spaces.GPU(duration=duration), or fn itself without the `spaces` package. duration: seconds, or a
    function of fn's own arguments that returns them (ZeroGPU's dynamic duration)."""
    return fn if spaces is None else spaces.GPU(duration=duration)(fn)


def reserved_seconds(n_models: int, per_call: int, per_model: int) -> int:
    """The GPU time one call reserves: a fixed part (a GPU attached, the weights on it) and a part per model run.
    ZeroGPU stops a call at its reservation, checks it against the visitor's daily quota, and queues shorter
    reservations first."""
    return per_call + per_model * n_models
