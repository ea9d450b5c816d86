"""fusion.ensemble: a strategy's seeds as one model, probabilities averaged."""
import json

import pytest
import torch

from fusion import FusedModel
from fusion.ensemble import SeedEnsemble, ensemble_name
from fusion.errors import ConfigError


def member(first, seed: int, strategy="global-softmax"):
    torch.manual_seed(seed)
    m = FusedModel(first.config.__class__(**{**first.config.to_dict(), "strategy": strategy}), first.encoder,
                   first.encoder_tokenizer, first.llm, first.llm_tokenizer)
    with torch.no_grad():
        for p in m.bridge.parameters():
            p.normal_(0, 0.5)
    return m


def test_probabilities_are_the_members_mean_and_each_vote_is_kept():
    first = FusedModel.from_preset("tiny", strategy="global-softmax", device="cpu", dtype="float32")
    members = [member(first, s) for s in (0, 1, 2)]
    ens = SeedEnsemble(members, name="tiny-gs-ens3")
    texts, choices = ["one text", "another, longer text"], [" yes", " no", " maybe"]
    out = ens.classify(texts, choices)
    runs = [m.classify(texts, choices) for m in members]
    for i, o in enumerate(out):
        mean = torch.tensor([r[i]["probs"] for r in runs]).mean(0)
        assert o["probs"] == pytest.approx(mean.tolist(), abs=1e-6) and o["pred"] == int(mean.argmax())
        assert o["member_preds"] == [r[i]["pred"] for r in runs]
        assert len(o["token_weights"][0]) == len(first.bridge.layers)
    assert ens.describe()["kind"] == "ensemble" and len(ens.describe()["members"]) == 3
    assert len({bytes(b"".join(ens.signature_parts())), bytes(b"".join(members[0].signature_parts()))}) == 2


def test_an_ensemble_is_one_strategy_of_at_least_two_members():
    first = FusedModel.from_preset("tiny", strategy="global-softmax", device="cpu", dtype="float32")
    with pytest.raises(ConfigError, match="at least 2"):
        SeedEnsemble([first])
    with pytest.raises(ConfigError, match="ONE strategy"):
        SeedEnsemble([first, member(first, 1, strategy="last")])


def test_names():
    assert ensemble_name(["pocket-topic-last", "pocket-topic-last-s1", "pocket-topic-last-s2"]) == "pocket-topic-last-ens3"
    assert ensemble_name(["pocket-topic-last-s1", "pocket-topic-last-s2"]) == "pocket-topic-last-ens2"


def test_an_ensemble_is_one_spec_entry_and_evaluates(tmp_path):
    """ensemble:<dir>,<dir> through eval run: the results name the ensemble and its members."""
    from eval.runner import evaluate
    from fusion.spec import EnsembleSpec, parse_model_spec
    from tests.support import save_untrained_checkpoints
    root = save_untrained_checkpoints(tmp_path / "a", families=("topic",), strategies=["global-softmax"], seed=0)
    other = save_untrained_checkpoints(tmp_path / "b", families=("topic",), strategies=["global-softmax"], seed=1)
    dirs = [str(next(root.iterdir())), str(next(other.iterdir()))]
    spec = parse_model_spec("ensemble:" + ",".join(dirs))
    assert isinstance(spec, EnsembleSpec) and str(spec) == "ensemble:" + ",".join(dirs)
    data = tmp_path / "data" / "sib200"
    data.mkdir(parents=True)
    rows = [{"id": f"s-{i}", "index_id": i, "lang": "eng_Latn", "text": f"sentence {i}", "label": i % 7}
            for i in range(14)]
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = evaluate(str(spec), "sib200", data_dir=tmp_path / "data", bootstrap=0, progress=False, precision="float32")
    assert r["model"]["kind"] == "ensemble" and len(r["model"]["members"]) == 2
    assert r["model"]["name"].endswith("-ens2")


def test_an_ensemble_from_its_members_stored_predictions_decides_as_the_ensemble_run(tmp_path):
    """eval.seeds.ensemble_records (what `eval seeds` reports for a strategy's seeds) makes, item for item, the
    decisions `eval run --model ensemble:...` makes, from the members' own predictions files."""
    from eval.predictions import read_predictions
    from eval.runner import evaluate
    from eval.seeds import ensemble_records
    from tests.support import save_untrained_checkpoints
    dirs = [str(next(save_untrained_checkpoints(tmp_path / f"c{s}", families=("topic",), strategies=["global-softmax"],
                                                 seed=s).iterdir())) for s in (0, 1, 2)]
    data = tmp_path / "data" / "sib200"
    data.mkdir(parents=True)
    rows = [{"id": f"s-{i}", "index_id": i, "lang": lang, "text": f"sentence {i} {lang}", "label": i % 7}
            for i in range(21) for lang in ("eng_Latn", "sin_Sinh")]
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = lambda spec, name: evaluate(spec, "sib200", data_dir=tmp_path / "data", bootstrap=0, progress=False,
                                      precision="float32", output_dir=tmp_path / "out", model_name=name)
    for i, d in enumerate(dirs):
        run(d, f"m{i}")
    run("ensemble:" + ",".join(dirs), "ens")
    members = [read_predictions(tmp_path / "out" / f"m{i}" / "sib200.predictions.jsonl")[0] for i in range(3)]
    ensemble_run = {r["doc_hash"]: r["predicted"] for r in
                    read_predictions(tmp_path / "out" / "ens" / "sib200.predictions.jsonl")[0]}
    from_files = {r["doc_hash"]: r["predicted"] for r in ensemble_records(members)}
    assert len(from_files) == len(rows) and from_files == ensemble_run
    votes = [{r["doc_hash"]: r["predicted"] for r in m} for m in members]
    assert any(len({v[k] for v in votes}) > 1 for k in from_files)      # the members disagree: not a trivial check
