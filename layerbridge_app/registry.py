"""The models the app serves, loaded once at start-up.

Checkpoint directories are named <preset>-<family>-<strategy> (e.g. checkpoints/pocket-nli-transformer-softmax), or
<preset>-<family>-<variant>-<strategy> for a bridge of that family trained on a variant of its data (e.g.
pocket-news-sent-last: news trained on single sentences). The settings' `variants` name the variant the app serves
per family; where that variant has a bridge for a strategy it replaces the plain one, and unlisted variants are ignored.
All bridges of one preset share the same frozen encoder and LLM: the first checkpoint loads them, every other
bridge is built on those same objects, and the no-encoder baseline (PlainLLM) reads the same LLM.
"""
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from fusion import FusedModel, PlainLLM, checkpoint
from fusion.probe import PROBE_CONFIG, EncoderProbe, probe_dir
from fusion.config import STRATEGIES
from fusion.errors import LayerBridgeError
from layerbridge_app.settings import VARIANT_NAME
from tasks import FAMILIES

log = logging.getLogger("layerbridge.app")
NAME = re.compile(r"^(?P<preset>[a-z0-9_]+)-(?P<family>%s)(?:-(?P<variant>%s))?-(?P<strategy>%s)$"
                  % ("|".join(map(re.escape, FAMILIES)), VARIANT_NAME, "|".join(map(re.escape, STRATEGIES))))


@dataclass
class Registry:
    models: dict                              # (family, strategy) -> FusedModel
    paths: dict                               # (family, strategy) -> checkpoint directory
    plain: PlainLLM | None                    # the LLM alone, sharing the loaded LLM
    probes: dict = field(default_factory=dict)    # family -> EncoderProbe (no LLM), sharing the loaded encoder
    problems: list = field(default_factory=list)   # checkpoints that could not be loaded, with the reason

    def families(self) -> list[str]:
        return [f for f in FAMILIES if any(k[0] == f for k in self.models)]

    def strategies(self, family: str) -> list[str]:
        return [s for s in STRATEGIES if (family, s) in self.models]

    def get(self, family: str, strategy: str) -> FusedModel | None:
        return self.models.get((family, strategy))

    def model(self, key):
        """key: (family, strategy) of a loaded bridge, "plain" for the LLM reading the prompt itself, or
        ("probe", family) for the encoder-alone baseline."""
        if key == "plain":
            return self.plain
        return self.probes.get(key[1]) if key[0] == "probe" else self.get(*key)

    def describe(self) -> str:
        if not self.models:
            return "no trained checkpoint loaded"
        m = next(iter(self.models.values()))
        return (f"{len(self.models)} bridges on encoder `{m.config.encoder}` + LLM `{m.config.llm}` "
                f"({m.device.type}, {m.precision})")


def find_checkpoints(checkpoints_dir, preset: str, families=tuple(FAMILIES), strategies=STRATEGIES,
                     variants=None) -> dict:
    """(family, strategy) -> directory, for every <preset>-<family>-<strategy> directory holding a bridge; where
    `variants` ({family: variant}) names a variant, <preset>-<family>-<variant>-<strategy> wins over the plain one."""
    variants = variants or {}
    found = {}
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir()):
        m = NAME.match(path.name)
        if not (m and m["preset"] == preset and m["family"] in families and m["strategy"] in strategies
                and m["variant"] in (None, variants.get(m["family"])) and checkpoint.is_checkpoint(path)):
            continue
        key = (m["family"], m["strategy"])
        if key not in found or m["variant"] is not None:    # the configured variant replaces the plain bridge
            found[key] = path
    return found


def load_registry(checkpoints_dir, preset: str, families=tuple(FAMILIES), strategies=STRATEGIES,
                  device=None, dtype="auto", variants=None) -> Registry:
    """Load every matching checkpoint; the backbones once, in `dtype` (fusion.precision). Broken checkpoints are
    skipped and reported."""
    paths = find_checkpoints(checkpoints_dir, preset, families, strategies, variants)
    models, problems, first = {}, [], None
    for key, path in paths.items():
        try:
            model = FusedModel.from_pretrained(path, device=device, dtype=dtype, backbones=first)
        except LayerBridgeError as e:
            log.warning("skipping %s: %s", path, e)
            problems.append(f"{path.name}: {e}")
            continue
        log.info("loaded %s (%s)", path, "backbones shared" if first is not None else "backbones loaded")
        models[key] = model
        first = first or model
    plain = PlainLLM(first.llm, first.llm_tokenizer, first.config.llm) if first is not None else None
    probes = load_probes(checkpoints_dir, preset, first, problems) if first is not None else {}
    return Registry(models, {k: paths[k] for k in models}, plain, probes=probes, problems=problems)


def find_probes(checkpoints_dir, preset: str) -> dict:
    """family -> <checkpoints_dir>/probe-<preset>-<family>, for every family whose encoder-alone probe is there."""
    paths = {family: probe_dir(checkpoints_dir, preset, family) for family in FAMILIES}
    return {family: path for family, path in paths.items() if (path / PROBE_CONFIG).is_file()}


def load_probes(checkpoints_dir, preset: str, bridge: FusedModel, problems: list) -> dict:
    """family -> the encoder-alone probe in <checkpoints_dir>/probe-<preset>-<family>, on the bridges' loaded
    encoder (a probe trained on another encoder is skipped and reported)."""
    probes = {}
    for family, path in find_probes(checkpoints_dir, preset).items():
        try:
            probes[family] = EncoderProbe.load_on(path, bridge.encoder, bridge.encoder_tokenizer, bridge.config.encoder)
        except LayerBridgeError as e:
            log.warning("skipping %s: %s", path, e)
            problems.append(f"{path.name}: {e}")
    return probes
