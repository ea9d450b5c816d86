"""A task's Hugging Face datasets copied to a local folder for offline use, in the Hub dataset's layout: one
folder per dataset (`<output>/<org>--<name>/`), a Parquet file per config and split (`<config>/<split>.parquet`;
`default` where the dataset has no configs) and a README.md whose `configs` metadata names them, as a dataset
repository on the Hub does. `datasets.load_dataset(<that folder>, <config>, split=<split>)` reads it like the Hub id,
so `--hub-dir <output>` (tasks.data.load_hub) maps it onto the task with the same code.

    python -m tasks.hub_copy --task sib200 --output data/hub [--languages eng_Latn sin_Sinh]

Where the Hub is unreachable (or HF_HUB_OFFLINE=1) it stops at once with a message, and writes nothing."""
import argparse
import sys
from pathlib import Path

from fusion.errors import BackboneUnavailableError, ConfigError, LayerBridgeError

from .definitions import HubSource, Task, get_task

DEFAULT_CONFIG = "default"


def local_copy(hub_dir, source: HubSource) -> Path:
    """Where the local copy of `source`'s dataset lives under `hub_dir`."""
    return Path(hub_dir) / source.path.replace("/", "--")


def task_sources(task: Task, languages=None) -> list[tuple[HubSource, str | None, str]]:
    """(source, config, split) of every Hub split the task reads: its test split per language and its English
    training split."""
    out = []
    for lang in languages or task.languages:
        if task.hub is not None:
            out.append((task.hub, *task.hub.config_split(lang)))
    if task.train_hub is not None:
        out.append((task.train_hub, task.train_hub.config, task.train_hub.split))
    return list({(source.path, config, split): (source, config, split) for source, config, split in out}.values())


def write_split(ds, folder: Path, config: str | None, split: str):
    """One split of a `datasets.Dataset` into the folder, and the folder's README.md configs updated."""
    path = folder / (config or DEFAULT_CONFIG) / f"{split}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    write_card(folder)


def write_card(folder: Path):
    """README.md with the `configs` metadata (the Hub's dataset-card YAML) for every Parquet file in the folder."""
    import yaml
    configs = []
    for config_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(config_dir.glob("*.parquet"))
        if files:
            configs.append({"config_name": config_dir.name,
                            "data_files": [{"split": f.stem, "path": f"{config_dir.name}/{f.name}"} for f in files]})
    (folder / "README.md").write_text("---\n" + yaml.safe_dump({"configs": configs}, sort_keys=False) + "---\n"
                                      "A local copy written by `python -m tasks.hub_copy`.\n", encoding="utf-8")


def copy_task(task: Task, output, languages=None) -> list[Path]:
    """Download the task's Hub splits (at each source's revision) into `output`; the files written."""
    from fusion.backbones import hub_reachable
    if not hub_reachable():
        raise BackboneUnavailableError(f"copying {task.name}'s datasets needs the Hugging Face Hub, which is "
                                       f"unreachable here (or HF_HUB_OFFLINE=1); nothing was written")
    import datasets
    written = []
    for source, config, split in task_sources(task, languages):
        ds = datasets.load_dataset(source.path, config, split=split, revision=source.revision)
        folder = local_copy(output, source)
        write_split(ds, folder, config, split)
        written.append(folder / (config or DEFAULT_CONFIG) / f"{split}.parquet")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.hub_copy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="a task or family (tasks.TASKS)")
    parser.add_argument("--output", required=True, help="the folder to write (pass it later as --hub-dir)")
    parser.add_argument("--languages", nargs="+", help="test languages to copy (default: all of the task's)")
    args = parser.parse_args(argv)
    try:
        task = get_task(args.task)
        unknown = [lang for lang in args.languages or () if lang not in task.languages]
        if unknown:
            raise ConfigError(f"task {task.name} has no language {', '.join(unknown)}; it has "
                                   f"{', '.join(task.languages)}")
        for path in copy_task(task, args.output, args.languages):
            print(f"wrote {path}")
    except LayerBridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
