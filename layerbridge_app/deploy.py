"""Create or update the Hugging Face Space that runs this app, in one command (huggingface_hub's
HfApi.create_repo, then HfApi.upload_folder: one commit). docs/deploy.md is the guide.

    python -m layerbridge_app.deploy --space USER/layerbridge --dry-run                  # what would go up (offline)
    python -m layerbridge_app.deploy --space USER/layerbridge                            # CPU (cpu-basic, free)
    python -m layerbridge_app.deploy --space USER/layerbridge --hardware t4-small        # a dedicated GPU
    python -m layerbridge_app.deploy --space USER/layerbridge --hardware zero-a10g       # ZeroGPU

What goes up, and nothing else: the app's code (app.py, layerbridge_app/ and the packages it imports: fusion/,
tasks/, eval/), its settings (spaces.yaml), the bridges it serves (for the preset of spaces.yaml, every family,
strategy and data variant it names, and the encoder-alone probes: their config and weights), every checkpoint's
train_results.json (the leaderboard's model cards read them), the results the Leaderboard tab reads (results
files and predictions), README.md (its front matter is the Space's config), requirements.txt, LICENSE and
.gitattributes. The Space's README.md and requirements.txt are written for the hardware: CPU and dedicated GPU
Spaces get them as they are (PyPI's torch wheel for Linux runs on both); ZeroGPU supports Python 3.10.13 and
3.12.12 and torch 2.8.0 to 2.11.0, so there python_version becomes 3.12.12 (transformers needs 3.11+) and the torch
pin 2.11.0, every other line unchanged.

Without a token or without the Hub, it stops before anything is created or uploaded, and says what to do.
"""
import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from fusion import hub
from fusion.checkpoint import SERVED_BRIDGE_FILES, SERVED_PROBE_FILES
from fusion.errors import LayerBridgeError
from layerbridge_app.registry import find_probes, served
from layerbridge_app.settings import ROOT, Settings, load_settings

ZEROGPU_PYTHON = "3.12.12"                          # ZeroGPU runs Python 3.10.13 or 3.12.12; transformers needs 3.11+
ZEROGPU_PYTHONS = ("3.10.13", "3.12.12")
ZEROGPU_TORCH = "2.11.0"                            # ZeroGPU supports torch 2.8.0 to 2.11.0
ZEROGPU_TORCHES = ((2, 8, 0), (2, 11, 0))
COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")   # colorFrom / colorTo
GENERATED = ("README.md", "requirements.txt")       # written for the hardware (the rest goes up as it is)
# What a Space needs, as huggingface_hub's allow / ignore patterns (fnmatch: `*` also matches `/`); the bridges the
# app serves are added by name (space_patterns).
ALLOW = ["app.py", "spaces.yaml", "README.md", "requirements.txt", "LICENSE", ".gitattributes",
         "layerbridge_app/*.py", "fusion/*.py", "tasks/*.py", "eval/*.py",
         "checkpoints/*/train_results.json", "results/*.json", "results/*.predictions.jsonl"]
IGNORE = ["*/__pycache__/*", "*.pyc", "layerbridge_app/deploy.py"]
assert not any(set("*?[") & set(p.split("/")[0]) for p in ALLOW)   # select_files walks the top-level names only


class DeployError(LayerBridgeError):
    """The Space cannot be made from this checkout as it is, or the Hub cannot be reached or refused."""


def hardware_kind(hardware: str) -> str:
    """A Space hardware flavor (huggingface_hub's SpaceHardware) -> "cpu" | "gpu" | "zerogpu"."""
    from huggingface_hub import SpaceHardware
    if hardware not in {h.value for h in SpaceHardware}:
        raise DeployError(f"unknown Space hardware {hardware!r}; one of: {', '.join(h.value for h in SpaceHardware)}")
    return "cpu" if hardware.startswith("cpu") else "zerogpu" if hardware.startswith("zero") else "gpu"


# ---------------------------------------------------------------- README front matter and requirements

FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def front_matter(readme: str) -> dict:
    """The YAML block that opens README.md: the Space's config (hub-docs: spaces-config-reference.md)."""
    m = FRONT_MATTER.match(readme)
    if not m:
        raise DeployError("README.md must open with a YAML front matter block between '---' lines (the Space's "
                          "config)")
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise DeployError(f"README.md's front matter is not valid YAML: {e}") from e
    if not isinstance(meta, dict):
        raise DeployError("README.md's front matter must be a mapping of keys (title, sdk, ...)")
    return meta


def with_front_matter(readme: str, **values: str) -> str:
    """README.md with these front matter keys set (each line `key: value` replaced, or added at the block's end);
    every other line as it was."""
    block = FRONT_MATTER.match(readme).group(1)
    for key, value in values.items():
        quoted = re.fullmatch(r"[\d.]+", value)        # a version stays a string (3.10 must not become 3.1)
        line = f'{key}: "{value}"' if quoted else f"{key}: {value}"
        pattern = re.compile(rf"^{re.escape(key)}:.*$", re.M)
        block = pattern.sub(line, block, count=1) if pattern.search(block) else f"{block}\n{line}"
    return f"---\n{block}\n---\n" + readme[FRONT_MATTER.match(readme).end():]


def pins(requirements: str) -> dict:
    """name (lower case) -> version, for every `name==version` line."""
    out = {}
    for line in requirements.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower()] = version.strip()
    return out


def space_requirements(requirements: str, kind: str) -> str:
    """requirements.txt for a Space of this kind: as it is, except the torch pin on ZeroGPU."""
    if kind != "zerogpu":
        return requirements
    lines = requirements.splitlines(keepends=True)
    torch_lines = [i for i, line in enumerate(lines) if re.match(r"torch\s*==", line)]
    if len(torch_lines) != 1:
        raise DeployError("requirements.txt must pin torch on one line (torch==X.Y.Z)")
    lines[torch_lines[0]] = re.sub(r"==\s*[^\s#;]+", f"=={ZEROGPU_TORCH}", lines[torch_lines[0]], count=1)
    return "".join(lines)


def version_tuple(version: str) -> tuple:
    return tuple(int(x) for x in re.match(r"\d+(?:\.\d+)*", version).group(0).split("."))


def check_space_config(meta: dict, requirements: str, settings: Settings, files, kind: str) -> None:
    """The Space's front matter and requirements agree with each other, spaces.yaml, the files and the hardware."""
    from huggingface_hub import SpaceHardware
    required = pins(requirements)
    problems = [f"front matter has no {key!r}" for key in ("title", "sdk", "sdk_version", "app_file",
                                                             "python_version") if key not in meta]
    if meta.get("sdk") != "gradio":
        problems.append(f"sdk must be gradio (the app is a Gradio app), got {meta.get('sdk')!r}")
    if str(meta.get("sdk_version")) != required.get("gradio"):
        problems.append(f"sdk_version {meta.get('sdk_version')!r} is not requirements.txt's gradio=="
                        f"{required.get('gradio')}")
    if meta.get("app_file") not in files:
        problems.append(f"app_file {meta.get('app_file')!r} is not among the files that go up")
    python = str(meta.get("python_version"))
    if not re.fullmatch(r"3\.\d+(\.\d+)?", python):
        problems.append(f"python_version must be a quoted 3.x or 3.x.y, got {python!r}")
    if kind == "zerogpu" and python not in ZEROGPU_PYTHONS:
        problems.append(f"ZeroGPU runs Python {' or '.join(ZEROGPU_PYTHONS)}, not {python}")
    for key in ("colorFrom", "colorTo"):
        if key in meta and meta[key] not in COLORS:
            problems.append(f"{key} must be one of {', '.join(COLORS)}, got {meta[key]!r}")
    if "suggested_hardware" in meta and meta["suggested_hardware"] not in {h.value for h in SpaceHardware}:
        problems.append(f"suggested_hardware {meta['suggested_hardware']!r} is not a Space hardware flavor")
    if len(str(meta.get("short_description", ""))) > 60:
        problems.append("short_description is longer than 60 characters")
    for key in ("sdk", "sdk_version", "app_file"):
        if str(settings.space.get(key)) != str(meta.get(key)):
            problems.append(f"spaces.yaml's space.{key} {settings.space.get(key)!r} differs from the front matter's "
                            f"{meta.get(key)!r}")
    torch = required.get("torch")
    if torch is None:
        problems.append("requirements.txt does not pin torch")
    elif kind == "zerogpu" and not ZEROGPU_TORCHES[0] <= version_tuple(torch) <= ZEROGPU_TORCHES[1]:
        problems.append(f"ZeroGPU supports torch 2.8.0 to 2.11.0, not {torch}")
    if problems:
        raise DeployError("the Space's config is not valid:\n  - " + "\n  - ".join(problems))


# ---------------------------------------------------------------- what goes up

@dataclass
class Plan:
    hardware: str
    kind: str                 # cpu | gpu | zerogpu
    files: dict               # path in the Space -> local file (README.md and requirements.txt: the generated text)
    readme: str
    requirements: str
    meta: dict                # the Space's front matter
    changed: dict             # path -> what was changed for the hardware

    def size(self, path: str) -> int:
        return len(self.files[path].encode()) if path in GENERATED else self.files[path].stat().st_size

    @property
    def total(self) -> int:
        return sum(self.size(p) for p in self.files)


def inside(root: Path, path: Path, what: str) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise DeployError(f"{what} {path} is outside {root}: only what is inside the repository goes up") from None


def space_patterns(root: Path, settings: Settings) -> list[str]:
    """ALLOW, plus the config and weights of every bridge and probe the app serves with these settings from its
    checkpoints_dir (those served by Hub id, spaces.yaml's hub_bridges and hub_probes, stay on the Hub)."""
    ckpts = settings.resolve(settings.checkpoints_dir)
    inside(root, ckpts, "checkpoints_dir")
    inside(root, settings.resolve(settings.results_dir), "results_dir")
    bridges = served(ckpts, settings.preset, settings.families, settings.strategies, settings.variants,
                     settings.hub_bridges)
    if not bridges:
        raise DeployError(f"no {settings.preset} bridge in {ckpts} or in spaces.yaml's hub_bridges for its families "
                          f"and strategies: the Space would serve nothing (train them: scripts/train_pocket_bridges.sh)")
    local = [d for d in bridges.values() if not isinstance(d, str)]            # Hub ids: the Space downloads them
    files = [f"{inside(root, d, 'checkpoint')}/{name}" for d in local for name in SERVED_BRIDGE_FILES]
    files += [f"{inside(root, d, 'probe')}/{name}" for family, d in find_probes(ckpts, settings.preset).items()
              if family not in settings.hub_probes for name in SERVED_PROBE_FILES]
    return ALLOW + files


def select_files(root: Path, allow: list[str], ignore: list[str] = IGNORE) -> list[str]:
    """The files under root that huggingface_hub's upload_folder would take with these patterns (its own filter).
    Only the top-level entries the patterns name are walked (not .venv/, runs/, .git/, ...); links are not followed."""
    from huggingface_hub.utils import filter_repo_objects
    paths = []
    for top in sorted({pattern.split("/")[0] for pattern in allow}):
        path = root / top
        if path.is_file():
            paths.append(top)
        for folder, dirs, files in os.walk(path) if path.is_dir() else ():
            paths += [(Path(folder) / f).relative_to(root).as_posix() for f in files]
    return sorted(filter_repo_objects(paths, allow_patterns=allow, ignore_patterns=ignore))


def make_plan(hardware: str = "cpu-basic", root: Path = ROOT, settings: Settings | None = None) -> Plan:
    """Everything that goes up for this hardware, checked; raises DeployError with what to fix."""
    kind = hardware_kind(hardware)
    settings = settings or load_settings(root / "spaces.yaml")
    selected = select_files(root, space_patterns(root, settings))
    missing = [p for p in ("app.py", "spaces.yaml", "README.md", "requirements.txt") if p not in selected]
    if missing:
        raise DeployError(f"{root} has no {', '.join(missing)}")
    readme = (root / "README.md").read_text(encoding="utf-8")
    repo_meta = front_matter(readme)
    if str(settings.space.get("python_version")) != str(repo_meta.get("python_version")):
        raise DeployError(f"spaces.yaml's space.python_version {settings.space.get('python_version')!r} differs "
                          f"from README.md's {repo_meta.get('python_version')!r}")
    changes = {"suggested_hardware": hardware} | ({"python_version": ZEROGPU_PYTHON} if kind == "zerogpu" else {})
    readme = with_front_matter(readme, **changes)
    requirements = (root / "requirements.txt").read_text(encoding="utf-8")
    space_reqs = space_requirements(requirements, kind)
    meta = front_matter(readme)
    check_space_config(meta, space_reqs, settings, selected, kind)
    changed = {"README.md": ", ".join(f"{k}: {repo_meta.get(k)} -> {v}" for k, v in changes.items()
                                      if str(repo_meta.get(k)) != str(v))}
    if space_reqs != requirements:
        changed["requirements.txt"] = f"torch=={pins(requirements)['torch']} -> torch=={ZEROGPU_TORCH}"
    files = {p: root / p for p in selected} | {"README.md": readme, "requirements.txt": space_reqs}
    return Plan(hardware, kind, files, readme, space_reqs, meta, {k: v for k, v in changed.items() if v})


KINDS = {"cpu": "CPU: free on cpu-basic; visitors wait for the CPU, one model call at a time",
         "gpu": "a dedicated GPU, billed per hour to the Space's owner while it runs",
         "zerogpu": "ZeroGPU: a GPU lent per call; each Predict or Compare counts against the visitor's daily quota"}


def describe(plan: Plan, space: str | None) -> str:
    """What a dry run prints: the Space, its config, every file with its size, and what the Space installs."""
    out = [f"Space: {space or '(give --space USER/NAME)'} on {plan.hardware} ({KINDS[plan.kind]})",
           f"README.md front matter: valid (sdk {plan.meta['sdk']} {plan.meta['sdk_version']}, app_file "
           f"{plan.meta['app_file']}, python_version {plan.meta['python_version']}, suggested_hardware "
           f"{plan.meta.get('suggested_hardware')})",
           f"Files that go up ({len(plan.files)}, {plan.total / 1e6:.1f} MB):"]
    out += hub.sizes_table({path: plan.size(path) for path in plan.files},
                           {path: f"   written for {plan.hardware}: {note}" for path, note in plan.changed.items()})
    out += [f"Installed on the Space: Python {plan.meta['python_version']} (python_version), Gradio "
            f"{plan.meta['sdk_version']} (sdk_version), then `pip install -r requirements.txt`:"]
    out += [f"  {line}" for line in plan.requirements.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(out)


# ---------------------------------------------------------------- the Hub

def deploy(plan: Plan, space: str, private: bool = False) -> str:
    """Create the Space (or keep it), set its hardware, upload the plan in one commit that also deletes what is no
    longer part of it. Checks the token and the Hub before anything is created (fusion.hub). -> the Space's URL."""
    api = hub.connect(space, option="--space", hint=" `--dry-run` shows what would go up.")
    with hub.answers():
        user = api.whoami()["name"]
        print(f"signed in as {user}; creating or updating {space} ...", flush=True)
        url = api.create_repo(space, repo_type="space", space_sdk="gradio", space_hardware=plan.hardware,
                              private=private, exist_ok=True)
        runtime = api.get_space_runtime(space)
        if plan.hardware not in (runtime.hardware, runtime.requested_hardware):
            api.request_space_hardware(space, plan.hardware)
        with hub.staged(plan.files) as folder:
            api.upload_folder(repo_id=space, repo_type="space", folder_path=folder, delete_patterns="*",
                              commit_message=f"LayerBridge app for {plan.hardware} ({len(plan.files)} files)")
    return str(url)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m layerbridge_app.deploy", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", help="the Space, USER/NAME (created if it does not exist)")
    p.add_argument("--hardware", default="cpu-basic",
                   help="Space hardware: cpu-basic (free), cpu-upgrade, a GPU (t4-small, l4x1, a10g-small, ...) or "
                        "zero-a10g (ZeroGPU); default cpu-basic")
    p.add_argument("--private", action="store_true", help="create the Space private")
    p.add_argument("--dry-run", action="store_true",
                   help="print the files that would go up, check the front matter, print what the Space installs; "
                        "needs no token and no network")
    args = p.parse_args(argv)
    try:
        plan = make_plan(args.hardware)
        if args.dry_run:
            print(describe(plan, args.space))
            print("\nDry run: nothing was created or uploaded.")
            return 0
        url = deploy(plan, args.space, args.private)
    except LayerBridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"done: {url} (the Space builds and starts in a few minutes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
