"""Bridges and probes by Hugging Face Hub id, offline: a local Hugging Face cache in the Hub's documented layout
(models--<org>--<name>/blobs, refs/<revision>, snapshots/<commit>/<file> -> ../../blobs/<hash>) and HF_HUB_OFFLINE=1
(conftest). The Hub itself is unreachable here: uploads go to a stand-in for huggingface_hub.HfApi that records what
it was given, and without a token or the Hub nothing is created."""
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants
from safetensors.torch import load, load_file

from eval.__main__ import main as eval_main
from eval.results import read_results
from fusion import EncoderProbe, FusedModel, checkpoint, hub
from fusion.errors import CheckpointError, ConfigError, HubError
from fusion.spec import CheckpointSpec, HubSpec, parse_model_spec
from tasks import get_task
from tests.conftest import tiny
from tests.support import save_news_probe
from tests.test_eval_runner import write_xnli

ROOT = Path(__file__).resolve().parents[1]
MAIN, V1 = "1" * 40, "2" * 40           # the commits that refs/main and refs/v1 name


def put_in_cache(cache: Path, repo_id: str, folder: Path, commit: str, refs=("main",)) -> Path:
    """Lay `folder`'s files out as huggingface_hub's cache holds a download of `repo_id` at `commit`."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in folder.iterdir():
        blob = repo / "blobs" / hashlib.sha256(file.read_bytes()).hexdigest()
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def bridges(tmp_path_factory):
    """Two bridges (different weights) as local directories, and a probe."""
    root = tmp_path_factory.mktemp("local")
    tiny("global-softmax").save_pretrained(root / "main")
    torch.manual_seed(1)
    other = tiny("global-softmax")
    with torch.no_grad():
        for p in other.bridge.parameters():
            p.add_(torch.randn_like(p))
    other.save_pretrained(root / "v1")
    save_news_probe(root / "probe")
    return root


@pytest.fixture
def cache(bridges, tmp_path, monkeypatch):
    """HF_HUB_CACHE: someone/tiny-nli at main and v1, someone/tiny-probe, someone/no-weights (a config only)."""
    cache = tmp_path / "hub"
    put_in_cache(cache, "someone/tiny-nli", bridges / "main", MAIN)
    put_in_cache(cache, "someone/tiny-nli", bridges / "v1", V1, refs=("v1",))
    put_in_cache(cache, "someone/tiny-probe", bridges / "probe", MAIN)
    (tmp_path / "config-only").mkdir()
    shutil.copyfile(bridges / "main" / "config.json", tmp_path / "config-only" / "config.json")
    put_in_cache(cache, "someone/no-weights", tmp_path / "config-only", MAIN)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert constants.is_offline_mode()
    return cache


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_bridge_loads_by_its_hub_id_from_the_cache(cache, bridges):
    texts, choices = ["a premise and a hypothesis", "another one"], [" yes", " no", " maybe"]
    local = FusedModel.from_pretrained(bridges / "main", device="cpu", dtype="float32")
    by_id = FusedModel.from_pretrained("someone/tiny-nli", device="cpu", dtype="float32")
    assert by_id.name == "tiny-nli" and by_id.source == f"someone/tiny-nli@{MAIN}"
    assert [r["probs"] for r in by_id.classify(texts, choices)] == [r["probs"] for r in local.classify(texts, choices)]
    assert by_id.describe()["checkpoint_sha256"] == sha(bridges / "main" / "bridge.safetensors")
    assert by_id.describe()["path"] == f"someone/tiny-nli@{MAIN}"
    v1 = FusedModel.from_pretrained("someone/tiny-nli", revision="v1", backbones=by_id)    # a tag or branch
    assert v1.describe()["checkpoint_sha256"] == sha(bridges / "v1" / "bridge.safetensors") and v1.source.endswith(V1)
    again = FusedModel.from_pretrained("someone/tiny-nli", revision=V1, backbones=by_id)   # a commit
    assert torch.equal(again.bridge.fusion.layer_logits, v1.bridge.fusion.layer_logits)
    assert not torch.equal(v1.bridge.fusion.layer_logits, by_id.bridge.fusion.layer_logits)


def test_the_encoder_alone_probe_too(cache, bridges):
    probe = EncoderProbe.from_pretrained("someone/tiny-probe", device="cpu", dtype="float32")
    assert probe.describe()["path"] == f"someone/tiny-probe@{MAIN}"
    assert probe.describe()["checkpoint_sha256"] == sha(bridges / "probe" / "probe.safetensors")
    assert isinstance(parse_model_spec("someone/tiny-probe").load(device="cpu", dtype="float32"), EncoderProbe)


def test_what_is_neither_here_nor_cached_fails_at_once_with_what_to_do(cache, bridges):
    t0 = time.time()
    with pytest.raises(HubError, match=r"not in the local cache .* cannot be reached .*HF_HUB_OFFLINE"):
        FusedModel.from_pretrained("someone/missing")
    with pytest.raises(HubError, match="at revision 'v2'"):
        FusedModel.from_pretrained("someone/tiny-nli", revision="v2")
    assert time.time() - t0 < 5
    with pytest.raises(CheckpointError, match="does not exist, and it is not a Hugging Face Hub model id"):
        FusedModel.from_pretrained("no/such/dir")
    with pytest.raises(CheckpointError, match="revision='v1' is for Hugging Face Hub ids"):
        FusedModel.from_pretrained(bridges / "main", revision="v1")
    with pytest.raises(CheckpointError, match="has no bridge.safetensors"):
        FusedModel.from_pretrained("someone/no-weights")


def test_only_the_served_files_are_asked_for(monkeypatch, tmp_path):
    """The download names config.json and bridge.safetensors (or the probe's two files) and nothing else: a pickle
    file or code in the repository is never fetched."""
    import huggingface_hub
    asked = []
    (tmp_path / "snap").mkdir()

    def snapshot_download(repo_id, **kwargs):
        asked.append((repo_id, kwargs))
        return str(tmp_path / "snap")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    hub.download("someone/x", "v1", checkpoint.SERVED_BRIDGE_FILES)
    assert asked == [("someone/x", dict(revision="v1", allow_patterns=["config.json", "bridge.safetensors"],
                                        local_files_only=True))]           # offline: the cache only
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    hub.download("someone/x", None, checkpoint.SERVED_PROBE_FILES)
    assert asked[-1][1] == dict(revision=None, allow_patterns=["probe_config.json", "probe.safetensors"],
                                local_files_only=False)


def test_model_specs_name_hub_bridges_and_keep_the_other_kinds(cache, bridges, tmp_path):
    assert parse_model_spec("someone/tiny-nli@v1") == HubSpec("someone/tiny-nli", "v1")
    assert str(HubSpec("someone/tiny-nli", "v1")) == "someone/tiny-nli@v1" and str(HubSpec("a/b")) == "a/b"
    (tmp_path / "someone" / "tiny-nli").mkdir(parents=True)
    os.chdir(tmp_path)
    try:                                                     # a local directory of the same name wins
        assert parse_model_spec("someone/tiny-nli") == CheckpointSpec("someone/tiny-nli")
    finally:
        os.chdir(ROOT)
    with pytest.raises(ConfigError, match=r"a Hugging Face Hub model id \(<user>/<name>\[@revision\]\)"):
        parse_model_spec("no-such-model")
    ensemble = parse_model_spec(f"ensemble:someone/tiny-nli,someone/tiny-nli@v1").load(device="cpu", dtype="float32")
    assert [m.source for m in ensemble.members] == [f"someone/tiny-nli@{MAIN}", f"someone/tiny-nli@{V1}"]


def eval_cli(model: str, data: Path, out: Path, cache: Path) -> subprocess.CompletedProcess:
    """`python -m eval run` in its own process, HF_HUB_CACHE pointing at the cache and HF_HUB_OFFLINE=1."""
    cmd = [sys.executable, "-m", "eval", "run", "--model", model, "--task", "xnli", "--languages", "en", "hi",
           "--data-dir", str(data), "--output", str(out), "--batch-size", "4", "--bootstrap", "0", "--no-progress",
           "--precision", "float32"]
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_eval_run_evaluates_a_hub_bridge_at_a_revision(cache, bridges, tmp_path):
    data = write_xnli(tmp_path / "data")
    done = eval_cli("someone/tiny-nli@v1", data, tmp_path / "out", cache)
    assert done.returncode == 0, done.stderr[-3000:]
    results = read_results(tmp_path / "out" / "tiny-nli" / "xnli.json")      # the per-language view
    assert results["model"]["path"] == f"someone/tiny-nli@{V1}" and results["model"]["kind"] == "fused"
    assert results["model"]["checkpoint_sha256"] == sha(bridges / "v1" / "bridge.safetensors")
    # the same numbers as the local directory it was put in the cache from
    eval_main(["run", "--model", str(bridges / "v1"), "--task", "xnli", "--languages", "en", "hi", "--data-dir",
               str(data), "--output", str(tmp_path / "local"), "--batch-size", "4", "--bootstrap", "0",
               "--no-progress", "--precision", "float32"])
    local = read_results(tmp_path / "local" / "v1" / "xnli.json")
    assert results["results"] == local["results"]
    missing = eval_cli("someone/missing", data, tmp_path / "out", cache)
    assert missing.returncode == 2 and missing.stderr.startswith("error: model 'someone/missing'")
    assert "Traceback" not in missing.stderr and "HF_HUB_OFFLINE" in missing.stderr


# ---------------------------------------------------------------- uploads

class RecordingHub:
    """Stands in for huggingface_hub.HfApi: records the calls and what upload_folder's folder held."""
    calls: list = []
    uploaded: dict = {}

    def __init__(self, token=None):
        self.calls.append(("HfApi", token))

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, *, folder_path, **kwargs):
        from huggingface_hub.utils import filter_repo_objects
        folder = Path(folder_path)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        sent = sorted(filter_repo_objects(files, allow_patterns=kwargs.get("allow_patterns")))   # its own filter
        RecordingHub.uploaded = {name: (folder / name).read_bytes() for name in sent}
        self.calls.append(("upload_folder", kwargs))
        return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{kwargs['repo_id']}/commit/abc"})()


@pytest.fixture
def recording(monkeypatch):
    import huggingface_hub
    RecordingHub.calls, RecordingHub.uploaded = [], {}
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHub)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: True)
    return monkeypatch


def test_push_to_hub_uploads_the_bridge_and_its_card_in_one_commit(recording, bridges):
    model = FusedModel.from_pretrained(bridges / "main", device="cpu", dtype="float32")
    url = model.push_to_hub("someone/tiny-nli", revision="dev", private=True)
    assert url == "https://huggingface.co/someone/tiny-nli/commit/abc"
    assert [c[0] for c in RecordingHub.calls] == ["HfApi", "create_repo", "create_branch", "upload_folder"]
    assert RecordingHub.calls[1][1:] == ("someone/tiny-nli", dict(repo_type="model", private=True, exist_ok=True))
    upload = RecordingHub.calls[-1][1]
    assert upload["revision"] == "dev" and upload["allow_patterns"] == ["config.json", "bridge.safetensors",
                                                                        "README.md"]
    assert sorted(RecordingHub.uploaded) == ["README.md", "bridge.safetensors", "config.json"]
    sent, saved = load(RecordingHub.uploaded["bridge.safetensors"]), load_file(bridges / "main" / "bridge.safetensors")
    assert sent.keys() == saved.keys() and all(torch.equal(sent[k], saved[k]) for k in saved)
    card = ModelCard(RecordingHub.uploaded["README.md"].decode())    # no card in its folder: one from its config
    assert card.data.license == "mit" and card.data.pipeline_tag == "text-classification"
    assert "How it was trained is not recorded" in card.text


def test_the_push_command_uploads_what_its_dry_run_lists(recording, capsys):
    shipped = ROOT / "checkpoints" / "pocket-topic-last"
    if not shipped.is_dir():
        pytest.skip("checkpoints/pocket-topic-last is not here")
    from training.push import main
    assert main([str(shipped), "--repo", "someone/pocket-topic-last", "--dry-run"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("Files that go up")[1].split("Model card")[0].splitlines()[1:]]
    assert listed == ["README.md", "bridge.safetensors", "config.json"] and RecordingHub.calls == []
    card = (shipped / "README.md").read_text()
    assert card in out and out.rstrip().endswith("Dry run: nothing was created or uploaded.")
    assert main([str(shipped), "--repo", "someone/pocket-topic-last"]) == 0
    assert [c[0] for c in RecordingHub.calls] == ["HfApi", "create_repo", "upload_folder"]
    assert RecordingHub.uploaded == {name: (shipped / name).read_bytes() for name in listed}


def test_without_a_token_or_the_hub_nothing_is_created(bridges, monkeypatch, capsys):
    import huggingface_hub
    from training.push import main
    RecordingHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHub)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(SystemExit) as e:
        main([str(bridges / "probe"), "--repo", "someone/tiny-probe"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: no Hugging Face token") and "HF_TOKEN" in err
    assert "Nothing was created or uploaded" in err
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")     # a token, but HF_HUB_OFFLINE=1
    probe = EncoderProbe.from_pretrained(bridges / "probe", device="cpu", dtype="float32")
    with pytest.raises(HubError, match="cannot be reached from here .* Nothing was created or uploaded"):
        probe.push_to_hub("someone/tiny-probe")
    with pytest.raises(HubError, match="repo_id must be USER/NAME"):
        probe.push_to_hub("tiny-probe")
    assert RecordingHub.calls == []


# ---------------------------------------------------------------- the app

def test_the_app_serves_bridges_and_probes_given_by_hub_id(cache, bridges, tmp_path):
    """spaces.yaml's hub_bridges and hub_probes: the app serves them from the Hugging Face cache (no checkpoint in
    its own checkpoints_dir), checks each against its key before loading, and Predict and Compare run them."""
    gradio_client = pytest.importorskip("gradio_client")
    import app
    from layerbridge_app.registry import load_registry
    from layerbridge_app.settings import load_settings
    from tests.support import launch
    (tmp_path / "empty").mkdir()
    (tmp_path / "spaces.yaml").write_text(
        f"preset: tiny\ncheckpoints_dir: {tmp_path / 'empty'}\nresults_dir: {tmp_path / 'empty'}\n"
        "hub_bridges:\n  news: {global-softmax: someone/tiny-nli@v1, last: someone/tiny-nli}\n"
        "hub_probes: {news: someone/tiny-probe}\n")
    s = load_settings(tmp_path / "spaces.yaml")
    registry = load_registry(s.resolve(s.checkpoints_dir), s.preset, s.families, s.strategies, device="cpu",
                             dtype="float32", hub_bridges=s.hub_bridges, hub_probes=s.hub_probes)
    assert registry.labels == {("news", "global-softmax"): "someone/tiny-nli"}
    assert registry.get("news", "global-softmax").describe()["checkpoint_sha256"] == \
        sha(bridges / "v1" / "bridge.safetensors")
    assert [p.split(":")[0] for p in registry.problems] == ["someone/tiny-nli"]       # a global-softmax bridge
    assert "is a global-softmax bridge; hub_bridges serves it as last" in registry.problems[0]
    assert len(registry.probes) == 1 and next(iter(registry.probes.values())).source == f"someone/tiny-probe@{MAIN}"
    demo = app.build_demo(registry, s)
    url = launch(demo)
    try:
        client = gradio_client.Client(url, verbose=False)
        label, info, bars, heat, details = client.predict("news", "global-softmax", "Stocks fell on Monday.", "", "",
                                                          api_name="/predict")
        assert details["checkpoint"] == "someone/tiny-nli" and "someone/tiny-nli" in info
        assert label["label"] in [c.strip() for c in get_task("news").targets]
        out = client.predict("news", "Stocks fell on Monday.", "", "", api_name="/compare")
        assert out[-1]["models"]["encoder alone"]["label"] in [c.strip() for c in get_task("news").targets]
    finally:
        demo.close()


def test_bad_hub_ids_in_the_settings_are_refused(tmp_path):
    from layerbridge_app.settings import load_settings
    for bad in ("hub_bridges: {news: {last: not-a-repo-id}}", "hub_bridges: {weather: {last: a/b}}",
                "hub_bridges: {news: {best: a/b}}", "hub_probes: {news: a/b/c}"):
        (tmp_path / "spaces.yaml").write_text(bad + "\n")
        with pytest.raises(ConfigError, match="Hugging Face Hub model id"):
            load_settings(tmp_path / "spaces.yaml")
