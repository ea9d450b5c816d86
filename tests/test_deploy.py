"""The Space deploy command (python -m layerbridge_app.deploy): its dry run lists what a Space needs and nothing
else, validates the front matter and prints what the Space installs; the versions it writes fit the hardware; it
stops before anything goes up without a token or the Hub; the upload is one commit of exactly the planned files
(the Hub itself is replaced by a recording stand-in: no Hub account here); .gitattributes covers every binary file."""
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import fusion.hub
from layerbridge_app import deploy
from layerbridge_app.deploy import DeployError, front_matter, make_plan, pins
from layerbridge_app.registry import find_checkpoints
from layerbridge_app.settings import ROOT, load_settings

HARDWARE = ["cpu-basic", "t4-small", "zero-a10g"]   # CPU, a dedicated GPU, ZeroGPU


@pytest.fixture(scope="module")
def plans():
    return {hw: make_plan(hw) for hw in HARDWARE}


def fake_repo(root: Path) -> set:
    """A checkout with what a Space needs and the clutter a working tree gathers; returns the paths that must go up."""
    needed = {"app.py", "spaces.yaml", "README.md", "requirements.txt", "LICENSE", ".gitattributes",
              "layerbridge_app/views.py", "fusion/model.py", "tasks/definitions.py", "eval/records.py",
              "checkpoints/pocket-news-last/config.json", "checkpoints/pocket-news-last/bridge.safetensors",
              "checkpoints/pocket-news-last/train_results.json", "checkpoints/pocket-news-last-s1/train_results.json",
              "checkpoints/probe-pocket-news/probe_config.json", "checkpoints/probe-pocket-news/probe.safetensors",
              "results/pocket-news-last/sinhala_news.json",
              "results/pocket-news-last/sinhala_news.predictions.jsonl"}
    clutter = {"layerbridge_app/deploy.py", "layerbridge_app/__pycache__/views.cpython-311.pyc", "fusion/model.pyc",
               "training/train.py", "bench/latency.py", "tests/test_app.py", "tests/screenshots/predict.png",
               "scripts/train_pocket_bridges.sh", ".venv/lib/python3.11/site-packages/torch/__init__.py",
               "runs/pocket-news-last/bridge.safetensors", ".pytest_cache/v/cache/nodeids", ".gradio/flagged/x.csv",
               "__pycache__/app.cpython-311.pyc", ".git/HEAD", "checkpoints/pocket-news-last/optimizer.safetensors",
               "checkpoints/pocket-news-last/trainer_state.json", "checkpoints/pocket-news-last/learning_curve.png",
               "checkpoints/pocket-news-last/README.md", "checkpoints/pocket-news-last-s1/bridge.safetensors",
               "checkpoints/pocket-news-last-s1/config.json", "checkpoints/pocket-nli-last/config.json",
               "results/leaderboard.md", "results/leaderboard.csv", "results/pocket-news-last/sinhala_news.json.tmp",
               "bench/logs/run.log", "tmp/scratch.txt"}
    # the metadata by which checkpoints say who they are (fusion.checkpoint.identify): pocket's backbones, the task
    from fusion.pocket import E5_NAME, GEMMA_NAME
    metadata = {"checkpoints/pocket-news-last/config.json": {"model_type": "layerbridge", "strategy": "last",
                                                             "encoder": E5_NAME, "llm": GEMMA_NAME},
                "checkpoints/pocket-news-last/train_results.json": {"task": "sinhala_news", "seed": 0},
                "checkpoints/pocket-news-last-s1/train_results.json": {"task": "sinhala_news", "seed": 1},
                "checkpoints/probe-pocket-news/probe_config.json": {"encoder": E5_NAME, "task": "sinhala_news",
                                                                    "choices": []}}
    for path in needed | clutter:
        f = root / path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(metadata.get(path, {})) if f.suffix == ".json" else "x")
    for name in ("spaces.yaml", "README.md", "requirements.txt"):
        shutil.copyfile(ROOT / name, root / name)
    return needed


def test_dry_run_selection_is_what_a_space_needs_and_nothing_else(tmp_path):
    """Only the served bridge (spaces.yaml: pocket, its families and strategies; here news/last) goes up whole;
    its seed sibling sends only its train_results.json; no .venv, runs/, caches, test screenshots, training state,
    training or benchmark code, or the deploy command itself."""
    needed = fake_repo(tmp_path)
    settings = load_settings(ROOT / "spaces.yaml", checkpoints_dir=str(tmp_path / "checkpoints"),
                             results_dir=str(tmp_path / "results"), variants={}, families=["news"])
    plan = make_plan("cpu-basic", root=tmp_path, settings=settings)
    assert set(plan.files) == needed
    assert plan.files["app.py"] == tmp_path / "app.py" and plan.total > 0


def test_dry_run_of_this_repository(plans, capsys):
    """The command on this checkout: every file it lists exists, what the app loads is there, no clutter, the
    front matter is validated, and it prints what the Space installs; offline and without a token."""
    assert deploy.main(["--space", "someone/layerbridge", "--hardware", "zero-a10g", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = plans["zero-a10g"]
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and " kB" in line]
    assert listed == sorted(plan.files) and f"Files that go up ({len(plan.files)}, {plan.total / 1e6:.1f} MB)" in out
    assert "front matter: valid" in out and "python_version 3.12.12" in out and "nothing was created or uploaded" in out
    pins = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if "==" in l and "torch" not in l]
    assert all(f"  {pin}" in out.splitlines() for pin in pins) and "  torch==2.11.0" in out.splitlines()
    assert not [p for p in listed if p.split("/")[0] in (".venv", "runs", "tests", "bench", "training", "scripts",
                                                         ".pytest_cache", ".gradio", "tmp") or "__pycache__" in p]
    assert all((ROOT / p).is_file() for p in listed)
    settings = load_settings()
    served = find_checkpoints(settings.resolve("checkpoints"), "pocket", settings.families, settings.strategies,
                              settings.variants)
    assert len(served) == 16 and all(f"checkpoints/{d.name}/bridge.safetensors" in plan.files for d in served.values())
    assert {"app.py", "layerbridge_app/zerogpu.py", "fusion/model.py", ".gitattributes", "LICENSE"} <= set(plan.files)
    assert "layerbridge_app/deploy.py" not in plan.files


def test_the_planned_files_run_the_app_on_their_own(plans, tmp_path):
    """A copy of exactly the planned files (as the upload stages them) in a fresh process: app.py imports with
    every module from the copy, it finds the same bridges and probes, and the leaderboard reads the same results."""
    plan = plans["cpu-basic"]
    with fusion.hub.staged(plan.files) as folder:
        stage = tmp_path / "space"
        shutil.copytree(folder, stage)
    assert sorted(str(p.relative_to(stage)) for p in stage.rglob("*") if p.is_file()) == sorted(plan.files)
    assert (stage / "README.md").read_text() == plan.readme
    code = """
import json, sys
import app
from eval.records import load_records
from layerbridge_app.registry import find_checkpoints, find_probes
from layerbridge_app.settings import load_settings
s = load_settings()
ours = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None) and
               m.__name__.split(".")[0] in ("app", "fusion", "tasks", "eval", "layerbridge_app")})
print(json.dumps({"files": ours, "root": str(s.resolve(".")),
                  "bridges": sorted("/".join(k) for k in find_checkpoints(s.resolve(s.checkpoints_dir), s.preset,
                                                                         s.families, s.strategies, s.variants)),
                  "probes": sorted(find_probes(s.resolve(s.checkpoints_dir), s.preset)),
                  "records": len(load_records(s.resolve(s.results_dir)))}))
"""
    runs = {}
    for where in (stage, ROOT):
        proc = subprocess.run([sys.executable, "-c", code], cwd=where, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[where] = json.loads(proc.stdout.strip().splitlines()[-1])
    copy, repo = runs[stage], runs[ROOT]
    assert Path(copy["root"]) == stage and all(f.startswith(str(stage)) for f in copy["files"])
    assert copy["bridges"] == repo["bridges"] and len(copy["bridges"]) == 16
    assert copy["probes"] == repo["probes"] and copy["records"] == repo["records"] > 0


def test_versions_fit_the_hardware(plans):
    """CPU and GPU Spaces get requirements.txt as it is; ZeroGPU the same file with only torch changed, to a
    version ZeroGPU supports, and a Python it runs. Every pinned package (its installed metadata: the versions of
    requirements.txt) accepts the Space's Python and torch (torch's own metadata is that of the installed 2.13.0)."""
    requirements = (ROOT / "requirements.txt").read_text()
    for hw in ("cpu-basic", "t4-small"):
        assert plans[hw].requirements == requirements and plans[hw].kind in ("cpu", "gpu")
        assert str(plans[hw].meta["python_version"]) == str(front_matter((ROOT / "README.md").read_text())
                                                            ["python_version"])
    zero = plans["zero-a10g"]
    changed = [(a, b) for a, b in zip(requirements.splitlines(), zero.requirements.splitlines()) if a != b]
    assert len(requirements.splitlines()) == len(zero.requirements.splitlines())
    assert changed == [(f"torch=={pins(requirements)['torch']}", f"torch=={deploy.ZEROGPU_TORCH}")]
    assert (2, 8, 0) <= deploy.version_tuple(deploy.ZEROGPU_TORCH) <= (2, 11, 0)
    assert zero.meta["python_version"] in ("3.10.13", "3.12.12") and zero.meta["suggested_hardware"] == "zero-a10g"
    for plan in plans.values():
        python, torch = str(plan.meta["python_version"]), pins(plan.requirements)["torch"]
        for name, version in pins(requirements).items():
            dist = importlib.metadata.distribution(name)
            assert dist.version.split("+")[0] == version, f"{name}: installed {dist.version}, pinned {version}"
            assert SpecifierSet(dist.metadata.get("Requires-Python") or "").contains(python), (name, python)
            for req in map(Requirement, dist.requires or []):
                if req.name == "torch" and req.marker is None:
                    assert req.specifier.contains(torch), (name, str(req), torch)


def test_the_readme_keeps_every_other_line(plans):
    readme = (ROOT / "README.md").read_text()
    zero = plans["zero-a10g"].readme
    diff = [(a, b) for a, b in zip(readme.splitlines(), zero.splitlines()) if a != b]
    assert len(readme.splitlines()) == len(zero.splitlines()) and len(diff) == 2
    assert ('python_version: "3.12.12"' in zero and "suggested_hardware: zero-a10g" in zero
            and plans["zero-a10g"].changed["requirements.txt"].endswith("torch==2.11.0"))


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.replace("sdk_version: 6.31.0", "sdk_version: 5.0.0"), "sdk_version"),
    (lambda r: r.replace("sdk: gradio", "sdk: streamlit"), "sdk must be gradio"),
    (lambda r: r.replace("colorFrom: blue", "colorFrom: teal"), "colorFrom must be one of"),
    (lambda r: r.replace("app_file: app.py", "app_file: main.py"), "app_file 'main.py'"),
    (lambda r: r.replace("---\n", "", 1), "must open with a YAML front matter"),
    (lambda r: r.replace("title: LayerBridge", "title: [LayerBridge"), "not valid YAML"),
])
def test_a_bad_front_matter_is_refused_with_what_to_fix(tmp_path, edit, message):
    fake_repo(tmp_path)
    (tmp_path / "README.md").write_text(edit((ROOT / "README.md").read_text()))
    settings = load_settings(ROOT / "spaces.yaml", checkpoints_dir=str(tmp_path / "checkpoints"),
                             results_dir=str(tmp_path / "results"), variants={})
    with pytest.raises(DeployError, match=message):
        make_plan("cpu-basic", root=tmp_path, settings=settings)


def test_zerogpu_refuses_a_python_or_torch_it_does_not_run(tmp_path, monkeypatch):
    fake_repo(tmp_path)
    settings = load_settings(ROOT / "spaces.yaml", checkpoints_dir=str(tmp_path / "checkpoints"),
                             results_dir=str(tmp_path / "results"), variants={})
    monkeypatch.setattr(deploy, "ZEROGPU_PYTHON", "3.11")
    with pytest.raises(DeployError, match="ZeroGPU runs Python 3.10.13 or 3.12.12, not 3.11"):
        make_plan("zero-a10g", root=tmp_path, settings=settings)
    monkeypatch.undo()
    monkeypatch.setattr(deploy, "ZEROGPU_TORCH", "2.13.0")
    with pytest.raises(DeployError, match="ZeroGPU supports torch 2.8.0 to 2.11.0, not 2.13.0"):
        make_plan("zero-a10g", root=tmp_path, settings=settings)
    with pytest.raises(DeployError, match="unknown Space hardware 'h100'"):
        make_plan("h100", root=tmp_path, settings=settings)


class RecordingHub:
    """Stands in for huggingface_hub.HfApi (no Hub account here): records the calls, lists what upload_folder
    was given. runtime_hardware: the hardware the Space runs on before the deploy."""
    runtime_hardware = "cpu-basic"
    calls: list = []
    uploaded: dict = {}

    def __init__(self, token=None):
        self.calls.append(("HfApi", token))

    def whoami(self):
        self.calls.append(("whoami",))
        return {"name": "someone"}

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/spaces/{repo_id}"

    def get_space_runtime(self, repo_id):
        import types
        return types.SimpleNamespace(hardware=self.runtime_hardware, requested_hardware=self.runtime_hardware)

    def request_space_hardware(self, repo_id, hardware):
        self.calls.append(("request_space_hardware", repo_id, hardware))

    def upload_folder(self, *, folder_path, **kwargs):
        folder = Path(folder_path)
        files = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file()}
        RecordingHub.uploaded = {"files": sorted(files), "readme": files["README.md"].read_text(),
                                 "requirements": files["requirements.txt"].read_text()}
        self.calls.append(("upload_folder", kwargs))


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub
    RecordingHub.calls, RecordingHub.uploaded = [], {}
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHub)
    return monkeypatch


def test_without_a_token_or_the_hub_it_stops_before_anything_goes_up(hub, capsys):
    import time

    import huggingface_hub
    hub.setattr(huggingface_hub, "get_token", lambda: None)
    t0 = time.time()
    assert deploy.main(["--space", "someone/layerbridge"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Hugging Face token") and "hf auth login" in err and "HF_TOKEN" in err
    hub.setattr(huggingface_hub, "get_token", lambda: "hf_test")     # a token, but HF_HUB_OFFLINE=1 (conftest)
    assert deploy.main(["--space", "someone/layerbridge", "--hardware", "zero-a10g"]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and "Nothing was created or uploaded" in err and "--dry-run" in err
    assert deploy.main(["--hardware", "zero-a10g"]) == 2 and "--space must be USER/NAME" in capsys.readouterr().err
    assert RecordingHub.calls == [] and time.time() - t0 < 60


@pytest.mark.parametrize("hardware, runtime, requested", [("zero-a10g", "cpu-basic", True),
                                                           ("cpu-basic", "cpu-basic", False)])
def test_the_upload_is_one_commit_of_the_planned_files(hub, plans, capsys, hardware, runtime, requested):
    import huggingface_hub

    hub.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    hub.setattr(fusion.hub, "hub_reachable", lambda timeout=3.0: True)
    hub.setattr(RecordingHub, "runtime_hardware", runtime)
    assert deploy.main(["--space", "someone/layerbridge", "--hardware", hardware]) == 0
    assert "done: https://huggingface.co/spaces/someone/layerbridge" in capsys.readouterr().out
    names = [c[0] for c in RecordingHub.calls]
    assert names == ["HfApi", "whoami", "create_repo"] + ["request_space_hardware"] * requested + ["upload_folder"]
    assert RecordingHub.calls[2][2] == dict(repo_type="space", space_sdk="gradio", space_hardware=hardware,
                                            private=False, exist_ok=True)
    upload = RecordingHub.calls[-1][1]
    assert upload["repo_id"] == "someone/layerbridge" and upload["repo_type"] == "space"
    assert upload["delete_patterns"] == "*"        # files no longer planned leave the Space in the same commit
    plan = plans[hardware]
    assert RecordingHub.uploaded == {"files": sorted(plan.files), "readme": plan.readme,
                                     "requirements": plan.requirements}


def test_gitattributes_tracks_every_binary_file_with_lfs():
    """Every tracked file that is not UTF-8 text or holds a NUL byte, and every file over the Hub's 10 MB limit for
    plain files, has filter=lfs (git check-attr, as git itself reads .gitattributes)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [p for p in tracked.decode().split("\0") if p and (ROOT / p).is_file()]

    def binary(path: str) -> bool:
        data = (ROOT / path).read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return b"\0" in data

    needs_lfs = [p for p in paths if binary(p) or (ROOT / p).stat().st_size > 10_000_000]
    assert {Path(p).suffix for p in needs_lfs} >= {".safetensors", ".png"}
    attrs = subprocess.run(["git", "check-attr", "filter", "--stdin", "-z"], cwd=ROOT, input="\0".join(needs_lfs),
                           capture_output=True, text=True, check=True).stdout.split("\0")
    filters = dict(zip(attrs[0::3], attrs[2::3]))
    assert [p for p in needs_lfs if filters.get(p) != "lfs"] == []
