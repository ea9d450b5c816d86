"""The project's own errors: each carries a message a user can act on."""
import sys
from contextlib import contextmanager


class LayerBridgeError(Exception):
    """Base class: anything the user can fix (bad input, unknown name, missing files)."""


class ConfigError(LayerBridgeError, ValueError):
    """An unknown preset, strategy, mapping or an inconsistent configuration."""


class InputError(LayerBridgeError, ValueError):
    """Bad user input: empty text, wrong types, no choices."""


class CheckpointError(LayerBridgeError):
    """A checkpoint directory that is missing files, holds pickle files or was built for other models."""


class BackboneUnavailableError(LayerBridgeError):
    """A frozen encoder or LLM that cannot be loaded here (e.g. a hub id while the hub is unreachable)."""


class HubError(LayerBridgeError):
    """The Hugging Face Hub cannot be reached, or refused: no such repository or revision, no token, a failed upload."""


class DataError(LayerBridgeError, ValueError):
    """A data file with missing fields, unknown labels, bad encoding or no rows."""


@contextmanager
def exit_on_user_error(also: tuple = ()):
    """For command lines: a LayerBridgeError (or one of the `also` types) inside the block prints `error: <message>`
    on stderr and exits with status 2, without a traceback."""
    try:
        yield
    except (LayerBridgeError, *also) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
