"""A task's Hugging Face test data copied to a local folder for offline use, in the Hub dataset's layout: one folder
per dataset (`<output>/<org>--<name>/`), a Parquet file per config and split (`<config>/<split>.parquet`; `default`
where the dataset has no configs) and a README.md whose `configs` metadata names them, as a dataset repository on
the Hub does. `datasets.load_dataset(<that folder>, <config>, split=<split>)` reads it like the Hub id, so
`eval run --hub-dir <output>` (tasks.data.read_hub) maps it onto the task with the same code.

    python -m tasks.hub_copy --task sib200 --output data/hub [--languages eng_Latn sin_Sinh]

Where the Hub is unreachable (or HF_HUB_OFFLINE=1) it stops at once with a message (`error: ...`, exit status 2),
and writes nothing; so does a download that fails (every split is read before any is written)."""
import argparse
from pathlib import Path

from fusion.errors import BackboneUnavailableError, ConfigError, DataError, exit_on_user_error

from .definitions import HubSource, get_any_task

DEFAULT_CONFIG = "default"


def local_copy(hub_dir, source: HubSource) -> Path:
    """Where the local copy of `source`'s dataset lives under `hub_dir`."""
    return Path(hub_dir) / source.path.replace("/", "--")


def splits_to_copy(task, languages=None) -> list[tuple[str | None, str]]:
    """The (config, split) of the task's Hub dataset that hold the test data of `languages` (default: all of the
    task's), each once (one config can hold every language)."""
    return list(dict.fromkeys(task.hub.config_split(lang) for lang in languages or task.languages))


def write_split(ds, folder: Path, config: str | None, split: str) -> Path:
    """One split of a `datasets.Dataset` into the folder, and the folder's README.md configs updated."""
    path = folder / (config or DEFAULT_CONFIG) / f"{split}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    write_card(folder)
    return path


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


def copy_task(task, output, languages=None) -> list[Path]:
    """Download the task's Hub test splits (at the source's revision) into `output`; the files written."""
    if task.hub is None:
        raise ConfigError(f"task {task.name} names no Hugging Face dataset")
    from fusion.backbones import hub_reachable
    if not hub_reachable():
        raise BackboneUnavailableError(f"copying {task.name}'s dataset needs the Hugging Face Hub, which is "
                                       f"unreachable here (or HF_HUB_OFFLINE=1); nothing was written")
    import datasets
    source, loaded = task.hub, []
    for config, split in splits_to_copy(task, languages):   # every split first: a failed download writes nothing
        try:
            loaded.append((datasets.load_dataset(source.path, config, split=split, revision=source.revision),
                           config, split))
        except (OSError, ValueError, RuntimeError) as e:   # no such dataset, config, split or revision; no connection;
            # RuntimeError: a dataset that still needs a loading script, which datasets no longer runs
            raise DataError(f"could not read {source.path} ({config or DEFAULT_CONFIG}/{split}) at revision "
                            f"{source.revision} from the Hub: {e}; nothing was written") from e
    return [write_split(ds, local_copy(output, source), config, split) for ds, config, split in loaded]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.hub_copy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="a task or family (tasks.TASKS, tasks.ALIGNMENT_TASKS)")
    parser.add_argument("--output", required=True, help="the folder to write (pass it later as --hub-dir)")
    parser.add_argument("--languages", nargs="+", help="test languages to copy (default: all of the task's)")
    args = parser.parse_args(argv)
    with exit_on_user_error(also=(OSError,)):   # OSError: an unwritable output folder, a full disk
        task = get_any_task(args.task)
        unknown = [lang for lang in args.languages or () if lang not in task.languages]
        if unknown:
            raise ConfigError(f"task {task.name} has no language {', '.join(unknown)}; it has "
                              f"{', '.join(task.languages)}")
        for path in copy_task(task, args.output, args.languages):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
