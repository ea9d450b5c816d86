"""The models the app serves, loaded once at start-up.

Per task family and fusion strategy the app serves one bridge of its preset, found among the checkpoint directories by
what each one's files say it is (fusion.checkpoint.identify: config.json's strategy and backbones, train_results.json's
task, seed and data variant), never by the directory's name: the bridge trained on the family's own texts with the
lowest seed, or, where the settings' `variants` name a data variant for the family (e.g. news: sent, single
sentences), that variant's bridge. All bridges of one preset share the same frozen encoder and LLM: the first
checkpoint loads them, every other bridge is built on those same objects, and the no-encoder baseline (PlainLLM)
reads the same LLM, the encoder-alone probes the same encoder.

Where the settings name Hub ids (spaces.yaml's hub_bridges: family -> strategy -> USER/NAME[@revision], and
hub_probes), those bridges and probes are served instead of the checkpoint directories': downloaded once into the
Hugging Face cache (fusion.hub), only their config and weights, and checked against the key before loading.

Models are looked up by typed keys: BridgeKey(family, strategy) for a bridge, fusion.spec's PlainSpec(preset) for the
LLM alone and ProbeSpec(preset, task) for a family's encoder-alone probe.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from fusion import FusedModel, PlainLLM, checkpoint, hub, strategy_names
from fusion.errors import CheckpointError, LayerBridgeError
from fusion.presets import PRESETS
from fusion.probe import EncoderProbe
from fusion.spec import PlainSpec, ProbeSpec
from tasks import FAMILIES, TASKS, get_task

log = logging.getLogger("layerbridge.app")


class BridgeKey(NamedTuple):
    family: str
    strategy: str


@dataclass
class Registry:
    models: dict                              # BridgeKey -> FusedModel
    paths: dict                               # BridgeKey -> the directory its files were read from
    plain: PlainLLM | None                    # the LLM alone, sharing the loaded LLM
    probes: dict = field(default_factory=dict)    # ProbeSpec -> EncoderProbe (no LLM), sharing the loaded encoder
    problems: list = field(default_factory=list)   # checkpoints that could not be loaded, with the reason
    labels: dict = field(default_factory=dict)     # BridgeKey -> what the page calls it: its directory's name or Hub id

    def families(self) -> list[str]:
        return [f for f in FAMILIES if any(k.family == f for k in self.models)]

    def strategies(self, family: str) -> list[str]:
        return [s for s in strategy_names() if (family, s) in self.models]

    def get(self, family: str, strategy: str) -> FusedModel | None:
        return self.models.get(BridgeKey(family, strategy))

    def model(self, key):
        """key: a BridgeKey (family, strategy), PlainSpec (the LLM reading the prompt itself) or ProbeSpec (the
        encoder-alone baseline); None where that model is not loaded."""
        if isinstance(key, PlainSpec):
            return self.plain
        return self.probes.get(key) if isinstance(key, ProbeSpec) else self.models.get(key)

    def describe(self) -> str:
        if not self.models:
            return "no trained checkpoint loaded"
        m = next(iter(self.models.values()))
        return (f"{len(self.models)} bridges on encoder `{m.config.encoder}` + LLM `{m.config.llm}` "
                f"({m.device.type}, {m.precision})")


def find_checkpoints(checkpoints_dir, preset: str, families=tuple(FAMILIES), strategies=None,
                     variants=None) -> dict:
    """BridgeKey -> directory of the bridge served for it (module docstring), among the bridges directly in
    `checkpoints_dir` that say they are of this preset (its encoder and LLM), of one of `families` (their training
    task's family) and `strategies` (default: every registered one)."""
    strategies, variants = strategies or strategy_names(), variants or {}
    backbones = PRESETS.get(preset, {})
    candidates = {}
    for info in checkpoint.scan(checkpoints_dir):
        if info.kind != "fused" or (info.encoder, info.llm) != (backbones.get("encoder"), backbones.get("llm")):
            continue
        family = TASKS[info.task].family if info.task in TASKS else None
        if family is None:
            log.warning("skipping %s: its %s names no known task", info.path, checkpoint.RESULTS_FILE)
            continue
        if family in families and info.strategy in strategies and info.variant in ("", variants.get(family)):
            candidates.setdefault(BridgeKey(family, info.strategy), []).append(info)
    # the configured variant first, then the lowest seed (unrecorded counts as 0), then the directory's name
    pick = lambda infos: min(infos, key=lambda i: (i.variant == "", i.seed or 0, i.path.name)).path
    return {key: pick(infos) for key, infos in sorted(candidates.items())}


def served(checkpoints_dir, preset: str, families=tuple(FAMILIES), strategies=None, variants=None,
           hub_bridges=None) -> dict:
    """BridgeKey -> what the app serves for it: a bridge of `hub_bridges` (family -> {strategy: USER/NAME[@revision]},
    the settings' hub_bridges) as its Hub id, else the directory find_checkpoints picks."""
    strategies = strategies or strategy_names()
    on_hub = {BridgeKey(family, strategy): ref for family, by in (hub_bridges or {}).items() for strategy, ref
              in by.items() if family in families and strategy in strategies}
    return dict(sorted((find_checkpoints(checkpoints_dir, preset, families, strategies, variants) | on_hub).items()))


def load_hub_bridge(key: BridgeKey, ref: str, preset: str, device, dtype, backbones) -> FusedModel:
    """The bridge of Hub id `ref` (USER/NAME[@revision]) served for `key`, after checking from its config.json,
    before any backbone is loaded, that it is a `key.strategy` bridge on the preset's encoder and LLM."""
    repo_id, revision = hub.split_revision(ref)
    found = hub.locate(repo_id, revision, checkpoint.SERVED_BRIDGE_FILES, "bridge")
    info, expected = checkpoint.identify(found.path), PRESETS.get(preset, {})
    if info is None or info.kind != "fused":
        raise CheckpointError(f"{ref} holds no LayerBridge bridge ({checkpoint.CONFIG_FILE})")
    if (info.encoder, info.llm) != (expected.get("encoder"), expected.get("llm")):
        raise CheckpointError(f"{ref} is a bridge between {info.encoder} and {info.llm}, not the {preset} preset's "
                              f"encoder and LLM")
    if info.strategy != key.strategy:
        raise CheckpointError(f"{ref} is a {info.strategy} bridge; hub_bridges serves it as {key.strategy}")
    return FusedModel.from_pretrained(repo_id, revision=found.path.name, device=device, dtype=dtype,
                                      backbones=backbones)


def load_registry(checkpoints_dir, preset: str, families=tuple(FAMILIES), strategies=None,
                  device=None, dtype="auto", variants=None, hub_bridges=None, hub_probes=None) -> Registry:
    """Load every bridge served (`served`: local checkpoints, and Hub ids where the settings name them); the
    backbones once, in `dtype` (fusion.precision). Broken checkpoints are skipped and reported."""
    sources = served(checkpoints_dir, preset, families, strategies, variants, hub_bridges)
    models, problems, first = {}, [], None
    for key, source in sources.items():
        try:
            model = load_hub_bridge(key, source, preset, device, dtype, first) if isinstance(source, str) else \
                FusedModel.from_pretrained(source, device=device, dtype=dtype, backbones=first)
        except LayerBridgeError as e:
            log.warning("skipping %s: %s", source, e)
            problems.append(f"{source if isinstance(source, str) else source.name}: {e}")
            continue
        log.info("loaded %s (%s)", source, "backbones shared" if first is not None else "backbones loaded")
        models[key] = model
        first = first or model
    plain = PlainLLM(first.llm, first.llm_tokenizer, first.config.llm) if first is not None else None
    probes = load_probes(checkpoints_dir, preset, first, problems, hub_probes) if first is not None else {}
    labels = {k: hub.split_revision(sources[k])[0] if isinstance(sources[k], str) else sources[k].name for k in models}
    return Registry(models, {k: m.files for k, m in models.items()}, plain, probes=probes, problems=problems,
                    labels=labels)


def find_probes(checkpoints_dir, preset: str) -> dict:
    """family -> the directory of its encoder-alone probe (fusion.spec.ProbeSpec.find), for every family that has one."""
    paths = {family: ProbeSpec(preset, get_task(family).name, checkpoints_dir=str(checkpoints_dir)).find()
             for family in FAMILIES}
    return {family: Path(path) for family, path in paths.items() if path is not None}


def load_probes(checkpoints_dir, preset: str, bridge: FusedModel, problems: list, hub_probes=None) -> dict:
    """ProbeSpec -> the family's encoder-alone probe (fusion.spec.ProbeSpec.find, or its Hub id in `hub_probes`:
    family -> USER/NAME[@revision]), on the bridges' loaded encoder (a probe trained on another encoder is skipped
    and reported)."""
    sources = find_probes(checkpoints_dir, preset) | {family: ref for family, ref in (hub_probes or {}).items()}
    probes = {}
    for family, source in sources.items():
        spec = ProbeSpec(preset, get_task(family).name, checkpoints_dir=str(checkpoints_dir))
        name, revision = hub.split_revision(source) if isinstance(source, str) else (source, None)
        try:
            probes[spec] = EncoderProbe.load_on(name, bridge.encoder, bridge.encoder_tokenizer, bridge.config.encoder,
                                                revision=revision)
        except LayerBridgeError as e:
            log.warning("skipping %s: %s", source, e)
            problems.append(f"{source if isinstance(source, str) else Path(source).name}: {e}")
    return probes
