"""Reading and writing the project's files safely: JSON that is read with a clear error, and files and directories
that appear whole or not at all (a killed process never leaves half of one)."""
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import DataError


def read_json(path, error: type[Exception]):
    """The JSON value in `path`, or `error` naming the file and what is wrong with it (missing, not UTF-8, not
    JSON)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"{path} is not a readable JSON file: {e}") from e


def write_text_atomic(path, text: str):
    """Write to a temp file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are meant to be read by others
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path, data):
    write_text_atomic(path, json.dumps(data, indent=1, ensure_ascii=False))


@contextmanager
def atomic_dir(target, replace: bool):
    """Yields a temp directory beside `target` to write into; afterwards it is renamed to `target`. An existing
    `target` is removed first when `replace`, else kept (another process got there first) and the temp one
    dropped. An error inside the block leaves `target` as it was."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp"))
    try:
        yield tmp
        if replace:
            shutil.rmtree(target, ignore_errors=True)
        try:
            tmp.rename(target)
        except OSError:  # not replacing, and another process won the race: keep theirs
            pass
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def iter_jsonl(path):
    """(line number, JSON object) for each non-blank line of a UTF-8 JSON Lines file; DataError naming file:line
    for a missing file, another encoding, invalid JSON or a line that is not an object."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}): save it as UTF-8 JSON Lines") from e
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n} is not valid JSON ({e.msg}); expected one JSON object per line") from e
        if not isinstance(row, dict):
            raise DataError(f"{path}:{n} is not a JSON object")
        yield n, row
