"""What it takes to add to LayerBridge: a fusion strategy is one class and one registry entry, a model kind is one
spec class and one parser entry; and a checkpoint is who its files say it is, whatever its folder is called."""
import json

import pytest
import torch
import torch.nn as nn

import app
from eval.__main__ import main as eval_main
from eval.runner import evaluate
from fusion import (STRATEGY_REGISTRY, ConfigError, FusedModel, Strategy, checkpoint, load_model, parse_model_spec,
                    register_strategy, strategy_names)
from fusion.spec import CheckpointSpec, PlainSpec, PresetSpec, ProbeSpec
from layerbridge_app.registry import load_registry
from layerbridge_app.settings import load_settings
from tasks import get_task
from tests.support import save_untrained_checkpoints
from tests.test_eval_runner import write_xnli
from tests.test_train import args as train_args
from training.args import parse_args
from training.train import train


class FirstLayer(nn.Module):
    """A throwaway strategy: the encoder's first fused layer only."""

    def __init__(self, config, num_layers: int, dim: int):
        super().__init__()
        self.num_layers = num_layers

    def forward(self, states, mask):
        weights = torch.zeros(*mask.shape, self.num_layers, device=states.device, dtype=states.dtype)
        weights[..., 0] = 1.0
        return states[0], weights * mask[..., None]                        # [B, T, D], [B, T, L]


@pytest.fixture
def first_layer():
    strategy = register_strategy(Strategy("first-layer", FirstLayer, label="first layer (a test)",
                                          description="the encoder's first layer only, H = h_1",
                                          weights_meaning="all weight on the first layer", per_token=False))
    yield strategy
    del STRATEGY_REGISTRY["first-layer"]


def test_a_new_strategy_trains_and_its_card_says_what_it_does(first_layer, tmp_path):
    out = train(train_args(tmp_path, strategy="first-layer", max_steps=3, save_every=3))
    model = FusedModel.from_pretrained(out, device="cpu")
    assert model.config.strategy == "first-layer"
    weights = model.classify(["a test"], [" Entailment", " Neutral"])[0]["token_weights"]
    assert all(row[0] == 1.0 for row in weights)
    card = (out / "README.md").read_text()
    assert "# LayerBridge bridge: xnli / first-layer" in card and "the encoder's first layer only, H = h_1" in card
    assert parse_args(["--strategy", "first-layer", "--preset", "tiny"]).strategy == "first-layer"


def test_an_unknown_strategy_is_refused_before_any_data_is_read(tmp_path, capsys):
    from training.train import main
    with pytest.raises(SystemExit) as e:
        main(["--strategy", "first-layer", "--preset", "tiny", "--train-file", str(tmp_path / "missing.jsonl")])
    assert e.value.code == 2 and "unknown fusion strategy 'first-layer'" in capsys.readouterr().err


def test_a_new_strategy_is_evaluated(first_layer, tmp_path, capsys):
    data = write_xnli(tmp_path / "data", langs=("en",), n=6)
    path = tmp_path / "tiny-nli-first-layer"
    torch.manual_seed(0)
    FusedModel.from_preset("tiny", strategy="first-layer", device="cpu").save_pretrained(path)
    r = evaluate(str(path), "xnli", languages=["en"], data_dir=data, output_dir=tmp_path / "out", bootstrap=0,
                 progress=False)
    assert r["model"]["strategy"] == "first-layer" and r["results"]["en"]["n"] == 6
    eval_main(["run", "--model", "tiny", "--strategy", "first-layer", "--task", "xnli", "--languages", "en",
               "--data-dir", str(data),
               "--output", str(tmp_path / "out"), "--bootstrap", "0", "--no-progress"])
    written = json.loads((tmp_path / "out" / "tiny-first-layer" / "xnli.json").read_text())   # lm-eval's schema
    assert written["config"]["model_args"]["strategy"] == "first-layer"


def test_the_app_serves_a_new_strategy(first_layer, tmp_path, monkeypatch):
    for name in ("REGISTRY", "SETTINGS", "classify_with"):   # build_demo sets them
        monkeypatch.setattr(app, name, getattr(app, name))
    save_untrained_checkpoints(tmp_path / "ckpts", "tiny", families=["news"], strategies=["last", "first-layer"])
    registry = load_registry(tmp_path / "ckpts", "tiny", device="cpu")
    assert registry.strategies("news") == ["last", "first-layer"]
    settings = load_settings(preset="tiny", checkpoints_dir=str(tmp_path / "ckpts"), results_dir=str(tmp_path / "r"))
    assert "first-layer" in settings.strategies                    # the default: every registered strategy
    demo = app.build_demo(registry, settings)
    dropdowns = [c["props"] for c in demo.config["components"] if c["props"].get("label", "").startswith("Fusion")]
    assert ("first layer (a test)", "first-layer") in dropdowns[0]["choices"]
    label, info, bars, heat, details = app.predict("news", "first-layer", "A story about football.", "", "")
    assert details["strategy"] == "first-layer" and details["layer_weights"][0] == pytest.approx(1.0)
    assert "first layer (a test)" in bars
    outputs = app.compare("news", "A story about football.", "", "")
    assert list(outputs[-1]["models"]) == ["last", "first-layer", "plain LLM"]


# ---------------------------------------------------------------- model specs

def test_one_parser_turns_a_model_string_into_a_typed_spec(tmp_path):
    assert parse_model_spec("plain:pocket") == PlainSpec("pocket") and str(PlainSpec("pocket")) == "plain:pocket"
    assert parse_model_spec("probe:tiny") == ProbeSpec("tiny") and str(ProbeSpec("tiny")) == "probe:tiny"
    assert parse_model_spec("tiny") == PresetSpec("tiny") and parse_model_spec("tiny").with_strategy("last") == \
        PresetSpec("tiny", "last")
    assert parse_model_spec(str(tmp_path)) == CheckpointSpec(str(tmp_path))
    assert not PlainSpec("tiny").has_encoder and CheckpointSpec(str(tmp_path)).has_encoder
    # a probe for a task is the probe of its family: the one trained on the task that trains the family
    assert ProbeSpec("tiny").resolve(get_task("indicxnli")).task == "xnli"
    assert PresetSpec("tiny").resolve(get_task("xnli")) == PresetSpec("tiny")
    with pytest.raises(ConfigError, match="neither a checkpoint directory, a preset"):
        parse_model_spec("no-such-model")


def test_a_new_model_kind_is_one_class_and_one_parser_entry(tmp_path, monkeypatch):
    """A kind written "last:<preset>" (a preset's untrained last-layer bridge), evaluated end to end."""
    from dataclasses import dataclass

    import fusion.spec

    @dataclass(frozen=True)
    class LastLayerSpec(fusion.spec.ModelSpec):
        preset: str

        @classmethod
        def parse(cls, text):
            prefix, sep, rest = text.partition(":")
            return cls(rest) if sep and prefix == "last" else None

        def load(self, device=None, dtype="auto"):
            return PresetSpec(self.preset, "last").load(device, dtype)

    monkeypatch.setattr(fusion.spec, "PARSERS", [*fusion.spec.PARSERS, LastLayerSpec.parse])
    assert load_model("last:tiny", device="cpu").config.strategy == "last"
    r = evaluate("last:tiny", "xnli", languages=["en"], data_dir=write_xnli(tmp_path, langs=("en",), n=3),
                 bootstrap=0, progress=False)
    assert r["model"]["strategy"] == "last" and r["results"]["en"]["n"] == 3


def test_probe_spec_finds_the_familys_probe_by_what_it_is(tmp_path):
    from fusion import EncoderProbe
    nli = get_task("nli")
    texts = [nli.prompt({"premise": f"p {i}", "hypothesis": f"{w} {i}"}) for i in range(4) for w in ("a", "b", "c")]
    labels = [j for _ in range(4) for j in range(3)]
    for name, variant in (("zz-plain", ""), ("aa-sentences", "sentences<=1")):
        probe = EncoderProbe.from_preset("tiny", device="cpu", dtype="float32", task="xnli")
        probe.fit(texts, labels, texts, labels, nli.targets, grid=(1.0,))
        probe.save_pretrained(tmp_path / name)
        checkpoint.write_train_results(tmp_path / name, {"task": "xnli", "seed": 0, "train_variant": variant})
    spec = ProbeSpec("tiny", checkpoints_dir=str(tmp_path)).resolve(get_task("indicxnli"))
    assert spec.find() == tmp_path / "zz-plain"                      # the task's own data, not the variant
    assert spec.load(device="cpu", dtype="float32").describe()["name"] == "probe-tiny"
    with pytest.raises(ConfigError, match="no encoder-alone probe trained on sib200"):
        ProbeSpec("tiny", checkpoints_dir=str(tmp_path)).resolve(get_task("topic")).load()


# ---------------------------------------------------------------- identity from the files

def test_renaming_a_checkpoint_folder_changes_nothing(tmp_path):
    from eval.records import load_records
    from layerbridge_app.registry import find_checkpoints
    save_untrained_checkpoints(tmp_path / "a", "tiny", families=["topic"], strategies=["last"], seed=2)
    (tmp_path / "a" / "tiny-topic-last-s2").rename(tmp_path / "a" / "bridge")
    info = checkpoint.identify(tmp_path / "a" / "bridge")
    assert (info.kind, info.strategy, info.task, info.seed, info.variant) == ("fused", "last", "sib200", 2, "")
    assert find_checkpoints(tmp_path / "a", "tiny") == {("topic", "last"): tmp_path / "a" / "bridge"}
    from tests.conftest import write_run
    write_run(tmp_path / "results", "bridge", "sib200", {"eng_Latn": 0.5}, strategy="last",
              path=tmp_path / "a" / "bridge")
    records = load_records(tmp_path / "results")
    assert set(records["seed"]) == {2} and set(records["family"]) == {"topic"}
