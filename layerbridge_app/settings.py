"""The app's runtime settings, from spaces.yaml (README.md's front matter is the Space's own config)."""
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from fusion import hub
from fusion.errors import ConfigError
from fusion.precision import PRECISIONS
from fusion.scoring import SCORINGS
from fusion.strategies import STRATEGY_REGISTRY, strategy_names
from tasks import FAMILIES

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_FILE = ROOT / "spaces.yaml"
VARIANT_NAME = r"[a-z0-9]+"   # a data variant's tag (fusion.checkpoint.variant_tag), e.g. sent: single sentences


@dataclass
class Settings:
    preset: str = "pocket"                  # the bridges of this preset's encoder and LLM are offered
    checkpoints_dir: str = "checkpoints"
    families: list = field(default_factory=lambda: list(FAMILIES))     # task families offered (tasks.FAMILIES)
    strategies: list = field(default_factory=strategy_names)          # default: every registered strategy
    variants: dict = field(default_factory=dict)    # family -> the data variant whose bridges are served (its tag)
    hub_bridges: dict = field(default_factory=dict)  # family -> {strategy: USER/NAME[@revision]}: served from the Hub
    hub_probes: dict = field(default_factory=dict)   # family -> USER/NAME[@revision]: its encoder-alone probe, ditto
    default_family: str = "topic"
    default_strategy: str = "last"
    results_dir: str = "results"
    max_input_chars: int = 5000
    concurrency_limit: int = 2              # leaderboard events run at once (model calls: one at a time, app.py)
    max_queue_size: int = 64                # further requests are refused with "queue full"
    zerogpu_call_seconds: int = 10          # ZeroGPU: GPU seconds one @spaces.GPU call reserves, plus
    zerogpu_model_seconds: int = 2          # these per model it runs (Predict 1, Compare up to 6)
    scoring: str = "loglik"                 # classify's scoring: loglik or constrained (fusion.scoring)
    precision: str = "auto"                 # frozen backbones: auto | float32 | bfloat16 (fusion.precision)
    space: dict = field(default_factory=dict)      # mirrors README.md's front matter (checked by a test)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else ROOT / p


def is_hub_ref(ref) -> bool:
    """USER/NAME or USER/NAME@REVISION (fusion.hub)."""
    repo_id, _ = hub.split_revision(ref) if isinstance(ref, str) else (None, None)
    return hub.is_repo_id(repo_id)


def load_settings(path=SETTINGS_FILE, **overrides) -> Settings:
    data = {}
    if Path(path).is_file():
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping of settings")
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown settings {unknown}; known: {sorted(known)}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    s = Settings(**data)
    bad = [f for f in s.families if f not in FAMILIES] + [x for x in s.strategies if x not in STRATEGY_REGISTRY]
    if bad:
        raise ConfigError(f"{path}: unknown families/strategies {bad}")
    if not isinstance(s.variants, dict) or any(f not in FAMILIES or not isinstance(v, str)
                                               or not re.fullmatch(VARIANT_NAME, v) for f, v in s.variants.items()):
        raise ConfigError(f"{path}: variants maps a task family ({', '.join(FAMILIES)}) to a variant name of "
                          f"lower-case letters and digits, e.g. {{news: sent}}; got {s.variants!r}")
    if not isinstance(s.hub_bridges, dict) or not all(
            f in FAMILIES and isinstance(by, dict) and all(x in STRATEGY_REGISTRY and is_hub_ref(ref)
                                                           for x, ref in by.items())
            for f, by in s.hub_bridges.items()):
        raise ConfigError(f"{path}: hub_bridges maps a task family ({', '.join(FAMILIES)}) to fusion strategies and "
                          f"each strategy to a Hugging Face Hub model id, e.g. {{topic: {{last: someone/pocket-topic-"
                          f"last@v1}}}}; got {s.hub_bridges!r}")
    if not isinstance(s.hub_probes, dict) or any(f not in FAMILIES or not is_hub_ref(ref)
                                                 for f, ref in s.hub_probes.items()):
        raise ConfigError(f"{path}: hub_probes maps a task family ({', '.join(FAMILIES)}) to a Hugging Face Hub "
                          f"model id, e.g. {{topic: someone/probe-pocket-topic}}; got {s.hub_probes!r}")
    if s.scoring not in SCORINGS:
        raise ConfigError(f"{path}: scoring must be one of {', '.join(SCORINGS)}, got {s.scoring!r}")
    if s.precision not in PRECISIONS:
        raise ConfigError(f"{path}: precision must be one of {', '.join(PRECISIONS)}, got {s.precision!r}")
    if not isinstance(s.max_input_chars, int) or s.max_input_chars < 10:
        raise ConfigError(f"{path}: max_input_chars must be an integer >= 10")
    for name in ("zerogpu_call_seconds", "zerogpu_model_seconds"):
        if not isinstance(getattr(s, name), int) or isinstance(getattr(s, name), bool) or getattr(s, name) < 1:
            raise ConfigError(f"{path}: {name} must be a whole number of seconds >= 1, got {getattr(s, name)!r}")
    return s
