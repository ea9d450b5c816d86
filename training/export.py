"""Ship a finished training run: its final bridge (fusion.checkpoint's files) and the run's reports.

    python -m training.export runs/pocket-nli-last-s0 checkpoints/pocket-nli-last
"""
import argparse
import sys

from fusion import checkpoint
from fusion.errors import LayerBridgeError

from .train import CURVE_FILE, METRICS_FILE, RESULTS_FILE


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a training run's output directory (python -m training.train --output-dir)")
    p.add_argument("dest", help="where the checkpoint goes, e.g. checkpoints/<preset>-<family>-<strategy>")
    args = p.parse_args(argv)
    try:
        checkpoint.copy(args.run, args.dest, extra=(RESULTS_FILE, METRICS_FILE, CURVE_FILE))
    except LayerBridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
