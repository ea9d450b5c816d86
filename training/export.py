"""Ship a finished training run: its final bridge and the run's reports (fusion.checkpoint.SHIPPED_FILES).

    python -m training.export runs/pocket-nli-last-s0 checkpoints/pocket-nli-last
"""
import argparse

from fusion import checkpoint
from fusion.errors import exit_on_user_error


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a training run's output directory (python -m training.train --output-dir)")
    p.add_argument("dest", help="where the checkpoint goes, e.g. checkpoints/<preset>-<family>-<strategy>")
    args = p.parse_args(argv)
    with exit_on_user_error():
        checkpoint.copy(args.run, args.dest)


if __name__ == "__main__":
    main()
