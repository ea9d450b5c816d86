"""Where a result came from: code and library versions, hardware, date and duration (every results file)."""
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from fusion.backbones import hardware as device_name

REPO = Path(__file__).resolve().parents[1]


def versions() -> dict:
    import sklearn
    import transformers
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return {"layerbridge": (f"git {commit}" + ("+dirty" if dirty else "")) if commit else "unknown",
            "torch": torch.__version__, "transformers": transformers.__version__,
            "scikit-learn": sklearn.__version__, "python": platform.python_version()}


def hardware(processes: int) -> str:
    return f"{device_name()}; {processes} process(es)"


def provenance(processes: int, t0: float) -> dict:
    """The results file's closing keys: versions, hardware, date (UTC), wall_seconds since `t0`."""
    return {"versions": versions(), "hardware": hardware(processes),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - t0, 2)}
