"""fusion.ensemble: a strategy's seeds as one model, probabilities averaged."""
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
