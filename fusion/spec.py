"""Model specs: the one place where a string that names a model (`eval run --model ...`, `load_model(...)`) becomes a
typed value, and the one place that value becomes a loaded model.

    parse_model_spec("checkpoints/pocket-nli-last")   # CheckpointSpec: a bridge or probe directory
    parse_model_spec("pocket")                        # PresetSpec: a preset's untrained bridge
    parse_model_spec("plain:pocket")                  # PlainSpec: the LLM alone (a preset's, or an LLM name)
    parse_model_spec("probe:pocket")                  # ProbeSpec: the preset's encoder-alone probe, per task family
    parse_model_spec("ensemble:ckpts/a,ckpts/a-s1")   # EnsembleSpec: a strategy's seeds, probabilities averaged
    parse_model_spec("someone/pocket-nli-last@v1")    # HubSpec: a bridge or probe on the Hugging Face Hub

A new model kind is one ModelSpec subclass (how it is written, how it loads) and one entry in PARSERS.
"""
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar

from . import checkpoint, hub
from .errors import ConfigError
from .presets import PRESETS


class ModelSpec:
    """What names a model. Subclasses are frozen dataclasses, so specs compare and hash by value; str() writes
    a spec back as parse_model_spec reads it."""

    has_encoder: ClassVar[bool] = True   # False where the model reads text without the encoder (alignment needs one)

    @classmethod
    def parse(cls, text: str) -> "ModelSpec | None":
        """The spec `text` writes, or None where it is not of this kind."""
        raise NotImplementedError

    def with_strategy(self, strategy: str) -> "ModelSpec":
        """This spec with an untrained bridge's fusion strategy; only a preset has one to choose."""
        return self

    def resolve(self, task) -> "ModelSpec":
        """The spec for evaluating `task` (a tasks.Task): a probe becomes the probe of the task's family."""
        return self

    def load(self, device=None, dtype="auto"):
        """The model (fusion.interface.ModelKind), its backbones in `dtype` (fusion.precision)."""
        raise NotImplementedError


class PrefixedSpec(ModelSpec):
    """A kind written <prefix>:<value>, the value being its first field."""
    prefix: ClassVar[str]

    @classmethod
    def parse(cls, text):
        prefix, sep, rest = text.partition(":")
        return cls(rest) if sep and prefix == cls.prefix else None

    def __str__(self):
        return f"{self.prefix}:{getattr(self, fields(self)[0].name)}"


@dataclass(frozen=True)
class PlainSpec(PrefixedSpec):
    """plain:<preset or LLM name>: the LLM reading the prompt itself, no encoder (fusion.plain)."""
    llm: str
    prefix: ClassVar[str] = "plain"
    has_encoder: ClassVar[bool] = False

    def load(self, device=None, dtype="auto"):
        from .plain import PlainLLM
        return PlainLLM.from_name(self.llm, device=device, dtype=dtype)


@dataclass(frozen=True)
class ProbeSpec(PrefixedSpec):
    """probe:<preset>: the preset's encoder-alone probe (fusion.probe) trained on a task's data, found among the
    checkpoints by what their files say they are (fusion.checkpoint.identify), not by their folders' names."""
    preset: str
    task: str | None = None               # the training task of the probe wanted; resolve(task) sets it
    checkpoints_dir: str = field(default=str(checkpoint.SHIPPED_DIR), compare=False)   # where to look
    prefix: ClassVar[str] = "probe"

    def resolve(self, task):
        """The probe of `task`'s family: trained on the task that trains that family (tasks.Task.family_task)."""
        return replace(self, task=getattr(task, "family_task", None))

    def find(self) -> Path | None:
        """The directory of the probe trained on `self.task`'s own data with this preset's encoder, or None."""
        encoder = PRESETS.get(self.preset, {}).get("encoder")
        return next((info.path for info in checkpoint.scan(self.checkpoints_dir) if info.kind == "probe"
                     and info.encoder == encoder and info.task == self.task and not info.train_variant), None)

    def load(self, device=None, dtype="auto"):
        from .probe import EncoderProbe
        path = self.find()
        if path is None:
            raise ConfigError(f"probe:{self.preset}: no encoder-alone probe trained on {self.task} in "
                              f"{self.checkpoints_dir}; train one with `python -m training.train_probe --preset "
                              f"{self.preset} --task {self.task} --data-dir ... --output-dir "
                              f"{self.checkpoints_dir}/probe-{self.preset}-<family>`")
        return EncoderProbe.from_pretrained(path, device=device, dtype=dtype)


@dataclass(frozen=True)
class PresetSpec(ModelSpec):
    """<preset>[ with a strategy]: a preset's bridge, untrained (random; fusion.presets)."""
    preset: str
    strategy: str | None = None

    @classmethod
    def parse(cls, text):
        return cls(text) if text in PRESETS else None

    def __str__(self):
        return self.preset

    def with_strategy(self, strategy):
        return replace(self, strategy=strategy)

    def load(self, device=None, dtype="auto"):
        from .model import FusedModel
        overrides = {"strategy": self.strategy} if self.strategy else {}
        model = FusedModel.from_preset(self.preset, device=device, dtype=dtype, **overrides)
        model.name = f"{self.preset}-{self.strategy}" if self.strategy else self.preset
        return model


@dataclass(frozen=True)
class CheckpointSpec(ModelSpec):
    """<directory>: a trained bridge (FusedModel) or an encoder-alone probe (EncoderProbe)."""
    path: str

    @classmethod
    def parse(cls, text):
        return cls(text) if Path(text).expanduser().is_dir() else None

    def __str__(self):
        return self.path

    def load(self, device=None, dtype="auto"):
        if checkpoint.is_probe(Path(self.path).expanduser()):
            from .probe import EncoderProbe
            return EncoderProbe.from_pretrained(self.path, device=device, dtype=dtype)
        from .model import FusedModel
        return FusedModel.from_pretrained(self.path, device=device, dtype=dtype)


@dataclass(frozen=True)
class HubSpec(ModelSpec):
    """<user>/<name>[@<revision>]: a bridge or an encoder-alone probe in a Hugging Face Hub model repository, at a
    branch, tag or commit (default: its default branch); fusion.hub downloads its served files only, once, into the
    Hugging Face cache. A local directory of the same name wins (CheckpointSpec comes first in PARSERS)."""
    repo_id: str
    revision: str | None = None

    @classmethod
    def parse(cls, text):
        repo_id, revision = hub.split_revision(text)
        return cls(repo_id, revision) if hub.is_repo_id(repo_id) and (revision is None or revision.strip()) else None

    def __str__(self):
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id

    def load(self, device=None, dtype="auto"):
        found = hub.locate(self.repo_id, self.revision, checkpoint.SERVED_BRIDGE_FILES + checkpoint.SERVED_PROBE_FILES,
                           "model")
        commit = found.path.name                  # the snapshot's commit: the same files, without asking again
        if checkpoint.is_probe(found.path):
            from .probe import EncoderProbe
            return EncoderProbe.from_pretrained(self.repo_id, device=device, dtype=dtype, revision=commit)
        from .model import FusedModel
        return FusedModel.from_pretrained(self.repo_id, device=device, dtype=dtype, revision=commit)


@dataclass(frozen=True)
class EnsembleSpec(PrefixedSpec):
    """ensemble:<dir>,<dir>,...: one strategy's seeds as one model, their choice probabilities averaged
    (fusion.ensemble); the bridges share one loaded encoder and LLM."""
    paths: str                            # comma-separated checkpoint directories or Hub ids (USER/NAME[@revision])
    prefix: ClassVar[str] = "ensemble"

    def load(self, device=None, dtype="auto"):
        from .ensemble import SeedEnsemble
        from .model import FusedModel

        def load(name, **kwargs):              # a directory as it is; USER/NAME@REVISION split
            name, revision = (name, None) if Path(name).expanduser().is_dir() else hub.split_revision(name)
            return FusedModel.from_pretrained(name, revision=revision, **kwargs)

        dirs = [p.strip() for p in self.paths.split(",") if p.strip()]
        first = load(dirs[0], device=device, dtype=dtype) if dirs else None
        members = [first] + [load(d, backbones=first) for d in dirs[1:]]
        return SeedEnsemble([m for m in members if m is not None])


PARSERS = [PlainSpec.parse, ProbeSpec.parse, EnsembleSpec.parse, PresetSpec.parse, CheckpointSpec.parse,
           HubSpec.parse]   # in order


def parse_model_spec(text: str) -> ModelSpec:
    """The typed spec a model string writes (PARSERS), or ConfigError naming what is accepted."""
    if isinstance(text, ModelSpec):
        return text
    for parse in PARSERS:
        spec = parse(text)
        if spec is not None:
            return spec
    raise ConfigError(f"{text!r} is neither a checkpoint directory, a preset ({', '.join(PRESETS)}), "
                      f"a Hugging Face Hub model id (<user>/<name>[@revision]), plain:<preset or LLM name>, "
                      f"probe:<preset> nor ensemble:<dir>,<dir>,...")
