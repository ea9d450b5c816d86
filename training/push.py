"""Upload a trained bridge or encoder-alone probe to a Hugging Face Hub model repository, in one commit (fusion.hub):
its config and weights (fusion.checkpoint's served files) and its model card (README.md), nothing else.

    python -m training.push checkpoints/pocket-topic-last --repo USER/pocket-topic-last --dry-run   # offline
    python -m training.push checkpoints/pocket-topic-last --repo USER/pocket-topic-last [--revision BRANCH] [--private]

The card is the checkpoint's own README.md (rebuild it with its test results first: `python -m eval.model_card ...`);
where it has none, one is built from its files (fusion.model_card). Then anyone loads it with
`FusedModel.from_pretrained("USER/pocket-topic-last")` or `python -m eval run --model USER/pocket-topic-last ...`.
Without a token or the Hub it stops before anything is created, and says what to do.
"""
import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from fusion import checkpoint, hub, model_card
from fusion.errors import CheckpointError, exit_on_user_error
from tasks import get_task


@dataclass
class Upload:
    path: Path              # the checkpoint
    kind: str               # "fused" (a bridge) or "probe"
    files: dict             # path in the repository -> local file, or the card's text (README.md)
    card: str
    card_source: str        # where the card comes from

    def size(self, name: str) -> int:
        source = self.files[name]
        return len(source.encode()) if isinstance(source, str) else source.stat().st_size


def plan(path) -> Upload:
    """What goes up for the checkpoint at `path`, checked: its served files readable, its card a valid ModelCard."""
    from huggingface_hub import ModelCard
    path = Path(path)
    info = checkpoint.identify(path)
    if info is None:
        raise CheckpointError(f"{path} is not a bridge or probe directory (it needs {checkpoint.CONFIG_FILE} or "
                              f"{checkpoint.PROBE_CONFIG_FILE})")
    if info.kind == "probe":
        checkpoint.read_probe(path)
        served = checkpoint.SERVED_PROBE_FILES
    else:
        checkpoint.read_config(checkpoint.check_dir(path))
        served = checkpoint.SERVED_BRIDGE_FILES
    card, source = checkpoint.read_card(path), f"{path / checkpoint.CARD_FILE}"
    if card is None:
        trained = checkpoint.read_train_results(path)
        config = checkpoint.read_probe(path)[0] if info.kind == "probe" else checkpoint.read_config(path).to_dict()
        card = model_card.card(path, get_task(trained["task"])) if trained.get("task") else \
            model_card.untrained_card(config, info.kind)
        source = f"built from {path}'s files (it has no {checkpoint.CARD_FILE})"
    if not card.startswith("---"):
        source += f"; it has no metadata block: `python -m eval.model_card {path}` rebuilds it"
    else:
        try:
            ModelCard(card)
        except ValueError as e:
            raise CheckpointError(f"{source}: not a valid model card: {e}") from e
    files = {name: path / name for name in served} | {checkpoint.CARD_FILE: card}
    return Upload(path, info.kind, files, card, source)


def describe(upload: Upload, repo: str | None, revision: str | None, private: bool) -> str:
    """What a dry run prints: the repository, every file with its size, and the card in full."""
    sizes = {name: upload.size(name) for name in upload.files}
    what = "bridge" if upload.kind == "fused" else "encoder-alone probe"
    return "\n".join([f"Model repository: {repo or '(give --repo USER/NAME)'} ({'private' if private else 'public'}), "
                      f"branch {revision or 'main'}; the {what} {upload.path}",
                      f"Files that go up ({len(sizes)}, {sum(sizes.values()) / 1e6:.1f} MB):",
                      *hub.sizes_table(sizes),
                      f"Model card ({checkpoint.CARD_FILE}, {upload.card_source}):", "", upload.card])


def push(upload: Upload, repo: str, revision: str | None = None, private: bool = False) -> str:
    """Upload the plan in one commit (fusion.hub.push). -> the commit's URL."""
    with hub.staged(upload.files) as folder:
        return hub.push(folder, repo, list(upload.files), revision=revision, private=private, option="--repo",
                        hint=" `--dry-run` shows what would go up.",
                        commit_message=f"Upload LayerBridge {upload.path.name}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.push", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a trained bridge or probe directory")
    p.add_argument("--repo", help="the model repository, USER/NAME (created if it does not exist)")
    p.add_argument("--revision", help="the branch to commit to (created from main if it does not exist)")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--dry-run", action="store_true",
                   help="print the files and the card that would go up; needs no token and no network")
    args = p.parse_args(argv)
    with exit_on_user_error():
        upload = plan(args.checkpoint)
        if args.dry_run:
            print(describe(upload, args.repo, args.revision, args.private))
            print("Dry run: nothing was created or uploaded.")
            return 0
        url = push(upload, args.repo, args.revision, args.private)
    print(f"done: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
