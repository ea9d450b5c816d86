"""Values computed from a directory's files, computed again only when one of those files changes.

The Leaderboard tab's view of results/ reads every results file and runs paired bootstraps over every predictions
file; each page load asks for it. Keyed on the directory's files (path, size, modification time), a load with
nothing changed costs a scan of the directory's entries and a dictionary lookup.
"""
import os
import threading
from pathlib import Path


def fingerprint(directory) -> tuple:
    """((path relative to directory, size, mtime_ns), ...) of every file under it, sorted; () where there is none."""
    files = []

    def walk(folder: str, prefix: str):
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                walk(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_file():
                stat = entry.stat()
                files.append((prefix + entry.name, stat.st_size, stat.st_mtime_ns))

    walk(str(directory), "")
    return tuple(sorted(files))


class DirectoryCache:
    """cache.get(directory, *args) == compute(directory, *args), computed once per state of the directory's files.
    Values of an older state are dropped; one computation at a time (callers asking meanwhile wait for it)."""

    def __init__(self, compute):
        self.compute = compute
        self.computed = 0                 # how often compute ran
        self._values = {}                 # (directory, *args) -> (fingerprint, value)
        self._lock = threading.Lock()

    def get(self, directory, *args):
        directory = str(Path(directory))
        stamp = fingerprint(directory)
        key = (directory, *args)
        with self._lock:
            held = self._values.get(key)
            if held is not None and held[0] == stamp:
                return held[1]
            value = self.compute(Path(directory), *args)
            self.computed += 1
            self._values = {k: v for k, v in self._values.items() if k[0] != directory or v[0] == stamp}
            self._values[key] = (stamp, value)
            return value
