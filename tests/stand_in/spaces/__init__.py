"""A stand-in for Hugging Face's `spaces` package, whose @spaces.GPU acts only on a ZeroGPU machine. Tests put its
folder on sys.path (or load it as `spaces`); it is never shipped. It records which modules were loaded before it
was imported and every @spaces.GPU call (the function and the seconds it reserves, a dynamic duration evaluated on
the call's own arguments as ZeroGPU does), and it passes arguments and results through pickle, as ZeroGPU's
worker process does."""
import pickle
import sys
import threading

LOADED_BEFORE = frozenset(sys.modules)   # what the process had imported when `import spaces` ran
CALLS = []                               # (function name, seconds reserved), one per @spaces.GPU call
DEFAULT_SECONDS = 60                     # the real package's default reservation
_lock = threading.Lock()


def GPU(task=None, *, duration=None):
    def decorate(fn):
        def on_gpu(*args, **kwargs):
            seconds = duration(*args, **kwargs) if callable(duration) else duration or DEFAULT_SECONDS
            with _lock:
                CALLS.append((fn.__name__, seconds))
            args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
            return pickle.loads(pickle.dumps(fn(*args, **kwargs)))
        on_gpu.__wrapped__ = fn
        return on_gpu
    return decorate if task is None else decorate(task)
