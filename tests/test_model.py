"""The fused model on tiny random models: trainability, checkpoints, shared-prefix scoring, bad input."""
import json
import os

import pytest
import torch
import torch.nn.functional as F

from fusion import (BackboneUnavailableError, CheckpointError, ConfigError, FusedModel, FusionConfig, InputError,
                    preset_config, strategy_names)
from fusion.scoring import positions
from tests.conftest import tiny

TEXTS = ["The cat sat on the mat.", "ශ්‍රී ලංකාව දිවයිනකි", "தமிழ்"]
CHOICES = [" Entailment", " Neutral", " Contradiction"]


@pytest.mark.parametrize("strategy", strategy_names())
def test_gradients_reach_exactly_the_bridge(strategy):
    model = tiny(strategy)
    model.train()
    loss = model(TEXTS, [" yes", " no", " maybe"])
    loss.backward()
    trainable = {id(p) for p in model.trainable_parameters()}
    for name, p in model.named_parameters():
        if id(p) in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient for {name}"
        else:
            assert p.grad is None and not p.requires_grad, f"frozen parameter {name} got a gradient"
    assert model.num_trainable_parameters() == sum(p.numel() for p in model.bridge.parameters())
    assert not model.encoder.training and not model.llm.training


def test_config_round_trips_through_json(tmp_path):
    cfg = preset_config("tiny", strategy="global-softmax", layers=[2, 4], mapping="mlp", layer_norm=False)
    cfg.save_pretrained(tmp_path)
    back = FusionConfig.from_pretrained(tmp_path)
    for key in ("encoder", "llm", "strategy", "layers", "mapping", "layer_norm", "max_encoder_length"):
        assert getattr(back, key) == getattr(cfg, key)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "layerbridge"


@pytest.mark.parametrize("strategy,mapping", [("last", "linear"), ("global-softmax", "mlp"),
                                              ("transformer-softmax", "linear")])
def test_save_and_load_give_identical_outputs(tmp_path, strategy, mapping):
    model = tiny(strategy, mapping=mapping)
    before = model.classify(TEXTS, CHOICES)
    model.save_pretrained(tmp_path, model_card="# card\n")
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["README.md", "bridge.safetensors", "config.json"]
    loaded = FusedModel.from_pretrained(tmp_path, device="cpu")
    after = loaded.classify(TEXTS, CHOICES)
    for a, b in zip(before, after):
        assert a["loglik"] == pytest.approx(b["loglik"], abs=1e-6)
        assert torch.allclose(torch.tensor(a["token_weights"]), torch.tensor(b["token_weights"]), atol=1e-6)


def test_pickle_checkpoints_are_refused(tmp_path):
    model = tiny("last")
    model.config.save_pretrained(tmp_path)
    torch.save(model.bridge.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        FusedModel.from_pretrained(tmp_path)


def test_broken_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        FusedModel.from_pretrained(tmp_path / "nope")
    model = tiny("global-softmax")
    model.save_pretrained(tmp_path / "a")
    (tmp_path / "a" / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        FusedModel.from_pretrained(tmp_path / "a")
    model.save_pretrained(tmp_path / "b")
    (tmp_path / "b" / "bridge.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="safetensors"):
        FusedModel.from_pretrained(tmp_path / "b")
    # a bridge saved for another strategy than its config claims
    model.save_pretrained(tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / "config.json").read_text())
    cfg["strategy"] = "transformer-softmax"
    (tmp_path / "c" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match"):
        FusedModel.from_pretrained(tmp_path / "c")


def test_checkpoint_for_other_model_widths_is_refused(tmp_path):
    model = tiny("last")
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["llm"] = "tiny-llama"          # hidden 40, not 48: the saved bridge cannot fit
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="other models"):
        FusedModel.from_pretrained(tmp_path)


def naive_logliks(model, text, choices):
    """One full LLM forward per choice over [prompt; choice] with the full LM head."""
    prompt = model.soft_prompt([text])
    out = []
    for c in choices:
        ids = torch.tensor([model.llm_tokenizer(c, add_special_tokens=False)["input_ids"]])
        embeds = torch.cat([prompt.embeds, model.llm.get_input_embeddings()(ids)], 1)
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        logits = model.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask)).logits
        logp = F.log_softmax(logits[0, prompt.embeds.shape[1] - 1:-1].float(), -1)
        out.append(logp.gather(-1, ids[0][:, None]).sum().item())
    return out


@pytest.mark.parametrize("encoder,llm", [("tiny-mt5-encoder", "tiny-gemma3"), ("tiny-bert-encoder", "tiny-llama")])
def test_shared_prefix_scoring_equals_naive_forward_per_choice(encoder, llm):
    model = tiny("transformer-softmax", encoder=encoder, llm=llm)
    # the long text makes the prompt longer than tiny-gemma3's sliding window (16)
    texts = TEXTS + ["a much longer sentence that goes past the sliding attention window of the tiny model"]
    choices = CHOICES + [" x", "y"]  # "y" is one token: single- and multi-token choices mixed
    fast = model.classify(texts, choices)
    for text, f in zip(texts, fast):
        slow = naive_logliks(model, text, choices)
        counts = [len(model.llm_tokenizer(c, add_special_tokens=False)["input_ids"]) for c in choices]
        # per-token log-likelihoods agree within 1e-5; sums of up to ~20 float32 terms within 1e-6 relative
        assert f["loglik_mean"] == pytest.approx([s / n for s, n in zip(slow, counts)], abs=1e-5)
        assert f["loglik"] == pytest.approx(slow, rel=1e-6, abs=1e-5)
        assert sum(f["probs"]) == pytest.approx(1.0, abs=1e-6)
        assert f["label"] == choices[max(range(len(choices)), key=lambda i: slow[i])]


def naive_constrained(model, text, choices):
    """log P(choice) under constrained decoding, computed the long way: one full forward per choice; at every
    position a softmax over the tokens that continue some choice with the same prefix (one candidate: log 1 = 0)."""
    prompt = model.soft_prompt([text])
    ids = [model.llm_tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
    out = []
    for toks in ids:
        x = torch.cat([prompt.embeds, model.llm.get_input_embeddings()(torch.tensor([toks]))], 1)
        mask = torch.ones(x.shape[:2], dtype=torch.long)
        logits = model.llm(inputs_embeds=x, attention_mask=mask, position_ids=positions(mask)).logits[0].float()
        total = 0.0
        for d, t in enumerate(toks):
            cands = sorted({o[d] for o in ids if o[:d] == toks[:d]})
            row = logits[prompt.embeds.shape[1] - 1 + d]
            total += (row[t] - torch.logsumexp(row[cands], 0)).item()
        out.append(total)
    return out


@pytest.mark.parametrize("encoder,llm", [("tiny-mt5-encoder", "tiny-gemma3"), ("tiny-bert-encoder", "tiny-llama")])
@pytest.mark.parametrize("fast", [True, False])
def test_constrained_scoring_equals_naive_restricted_softmax(encoder, llm, fast, monkeypatch):
    import fusion.scoring as scoring
    model = tiny("transformer-softmax", encoder=encoder, llm=llm)
    if fast:
        assert scoring.fast_head_ok(model.llm)                      # the one-pass path is the one tested
    else:
        monkeypatch.setitem(scoring._FAST_HEAD, model.llm, False)   # the per-choice fallback path
    texts = TEXTS + ["a much longer sentence that goes past the sliding attention window of the tiny model"]
    # byte-level tiny tokenizers: the choices share " " (no branch), " Contra" branches again at "d" / "s"
    choices = CHOICES + [" Contrast"]
    out = model.classify(texts, choices, scoring="constrained")
    for text, o in zip(texts, out):
        slow = naive_constrained(model, text, choices)
        assert o["scoring"] == "constrained" and "loglik" not in o
        assert torch.tensor(o["probs"]).log().tolist() == pytest.approx(slow, abs=1e-5)
        assert sum(o["probs"]) == pytest.approx(1.0, abs=1e-6)
        assert o["label"] == choices[max(range(len(choices)), key=lambda i: slow[i])]


def test_constrained_equals_loglik_decisions_for_single_token_choices():
    """With one-token choices both scorings share the one scored position, whose log-normalizer cancels in the
    softmax over the choices: the probabilities must agree although "constrained" never touches the vocabulary."""
    model = tiny("global-softmax", llm="tiny-llama")
    choices = ["a", "b", "c", "d"]
    assert all(len(model.llm_tokenizer(c, add_special_tokens=False)["input_ids"]) == 1 for c in choices)
    full = model.classify(TEXTS, choices)
    fast = model.classify(TEXTS, choices, scoring="constrained")
    for f, c in zip(full, fast):
        assert c["probs"] == pytest.approx(f["probs"], abs=1e-6) and c["pred"] == f["pred"]


def test_bad_scoring_requests_are_refused_before_any_work():
    model = tiny("last")
    with pytest.raises(InputError, match="unknown scoring"):
        model.classify(TEXTS, CHOICES, scoring="vibes")
    with pytest.raises(InputError, match="prefix"):   # " Neutral" is a prefix of " Neutrality"
        model.classify(TEXTS, [" Neutral", " Neutrality"], scoring="constrained")
    assert model.classify(TEXTS[:1], [" Neutral", " Neutrality"])[0]["scoring"] == "loglik"


def test_classify_output_carries_fusion_weights_and_tokens():
    model = tiny("transformer-softmax")
    r = model.classify(["ශ්‍රී ලංකාව"], [" a", " b"])[0]
    assert r["layers"] == [1, 2, 3, 4]
    assert len(r["token_weights"]) == len(r["tokens"]) and len(r["token_weights"][0]) == 4
    assert sum(r["layer_weights"]) == pytest.approx(1.0, abs=1e-5)
    assert r["truncated"] is False


def test_generate_returns_text():
    model = tiny("global-softmax")
    out = model.generate(["hello", "ශ්‍රී"], max_new_tokens=4)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)


def test_bad_input_gets_clear_errors():
    model = tiny("last")
    for bad in ["", "   \n\t", [], ["ok", ""], [None]]:
        with pytest.raises(InputError):
            model.classify(bad, CHOICES)
    with pytest.raises(InputError):
        model.classify(["ok"], [])
    with pytest.raises(InputError):
        model.classify(["ok"], [" a", " a"])
    with pytest.raises(InputError):
        model.generate(["ok"], max_new_tokens=0)


def test_long_text_is_truncated_and_says_so():
    model = tiny("transformer-softmax")
    r = model.classify(["word " * 5000], CHOICES)[0]
    assert r["truncated"] is True
    assert len(r["tokens"]) == model.config.max_encoder_length


def test_unknown_names_give_clear_errors():
    with pytest.raises(ConfigError, match="unknown preset"):
        preset_config("huge")
    with pytest.raises(ConfigError, match="unknown fusion strategy"):
        preset_config("tiny", strategy="mean")
    with pytest.raises(ConfigError, match="unknown mapping"):
        preset_config("tiny", mapping="conv")
    with pytest.raises(ConfigError, match="do not exist"):
        FusedModel.from_preset("tiny", device="cpu", layers=[1, 9])
    with pytest.raises(BackboneUnavailableError):
        FusedModel.from_config(FusionConfig(encoder="no-such-encoder-xyz", llm="tiny-gemma3"), device="cpu")


def test_paper_preset_fails_fast_offline(monkeypatch):
    import time
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.time()
    with pytest.raises(BackboneUnavailableError, match="google/mt5-large"):
        FusedModel.from_preset("paper", device="cpu")
    assert time.time() - t0 < 30


def test_local_directories_load_through_the_auto_classes(tmp_path):
    """Any encoder with hidden_states and any causal LM work through the config: here a full mT5 seq2seq
    checkpoint (only its encoder is loaded) and a Llama checkpoint, from local directories."""
    from transformers import MT5ForConditionalGeneration
    from fusion.backbones import tiny_llama, tiny_mt5_encoder
    enc, enc_tok = tiny_mt5_encoder()
    full = MT5ForConditionalGeneration(type(enc.config)(**{**enc.config.to_dict(), "is_encoder_decoder": True}))
    full.encoder.load_state_dict(enc.encoder.state_dict())
    full.save_pretrained(tmp_path / "mt5")
    enc_tok.save_pretrained(tmp_path / "mt5")
    llm, llm_tok = tiny_llama()
    llm.save_pretrained(tmp_path / "llama")
    llm_tok.save_pretrained(tmp_path / "llama")
    model = FusedModel.from_config(FusionConfig(encoder=str(tmp_path / "mt5"), llm=str(tmp_path / "llama"),
                                                strategy="global-softmax"), device="cpu")
    assert type(model.encoder).__name__ == "MT5EncoderModel"
    assert model.config.num_encoder_layers == 4 and model.config.llm_hidden_size == 40
    ref = FusedModel.from_config(FusionConfig(encoder="tiny-mt5-encoder", llm="tiny-llama",
                                              strategy="global-softmax"), device="cpu")
    ref.bridge.load_state_dict(model.bridge.state_dict())
    a = model.classify(["hello"], [" a", " b"])[0]["loglik"]
    b = ref.classify(["hello"], [" a", " b"])[0]["loglik"]
    assert a == pytest.approx(b, abs=1e-5)
    # a directory holding only pickle weights is refused
    (tmp_path / "pickled").mkdir()
    torch.save(llm.state_dict(), tmp_path / "pickled" / "pytorch_model.bin")
    llm.config.save_pretrained(tmp_path / "pickled")
    with pytest.raises(BackboneUnavailableError, match="safetensors"):
        FusedModel.from_config(FusionConfig(encoder="tiny-mt5-encoder", llm=str(tmp_path / "pickled")), device="cpu")


def test_scoring_falls_back_when_the_head_has_an_unknown_scaling():
    """The fast path applies the LM head itself; for a model whose head it cannot reproduce (here: a config
    attribute that lm_head_logits honours but Llama's forward ignores) scoring falls back to the model's own
    forward and still equals the naive computation."""
    from fusion.scoring import fast_head_ok
    model = tiny("global-softmax", llm="tiny-llama")
    assert fast_head_ok(model.llm)
    model = tiny("global-softmax", llm="tiny-llama")
    model.llm.config.logits_scaling = 4.0
    assert not fast_head_ok(model.llm)
    out = model.classify(TEXTS[:2], CHOICES)
    for text, o in zip(TEXTS[:2], out):
        assert o["loglik"] == pytest.approx(naive_logliks(model, text, CHOICES), rel=1e-6, abs=1e-5)


def test_an_attention_that_ignores_the_tree_mask_is_caught(monkeypatch):
    """fast_head_ok checks what the attention computes (not a private attribute): an LLM whose attention reads the
    appended choices causally, as flash attention would, is sent to the per-choice path."""
    import fusion.scoring as scoring
    model = tiny("last")
    assert scoring.honours_tree_mask(model.llm)
    tree_mask = scoring.tree_mask
    causal = lambda mask, group, offset: tree_mask(mask, torch.zeros_like(group), torch.arange(len(group)))
    monkeypatch.setattr(scoring, "tree_mask", causal)            # every appended token sees the ones before it
    assert not scoring.honours_tree_mask(model.llm)
    assert not scoring.fast_head_ok(tiny("last").llm)
