"""The fusion strategies on tiny random models, the written-out transformer block, the shipped checkpoints."""
from pathlib import Path

import pytest
import torch

from fusion import strategy_names
from fusion.checkpoint import BRIDGE_FILE, is_checkpoint, load_bridge, read_config
from tests.conftest import tiny

TEXTS = ["hello world", "ශ්‍රී ලංකාව is an island", "a"]


def hidden(model, texts):
    enc = model.encode(texts)
    with torch.no_grad():
        hs = model.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                           output_hidden_states=True).hidden_states
    return hs, enc.attention_mask


@pytest.mark.parametrize("strategy", strategy_names())
def test_weights_sum_to_one_and_pads_are_zero(strategy):
    model = tiny(strategy)
    hs, mask = hidden(model, TEXTS)
    _, weights = model.bridge(hs, mask)                           # [B, T, L]
    assert weights.shape == (*mask.shape, len(model.bridge.layers))
    sums = weights.sum(-1)
    assert torch.allclose(sums[mask.bool()], torch.ones(()), atol=1e-6)
    assert torch.all(weights[~mask.bool()] == 0)
    assert mask.min() == 0  # the batch really has padding


@pytest.mark.parametrize("layer_norm", [False, True])
def test_last_equals_mapping_of_final_hidden_state(layer_norm):
    model = tiny("last", layer_norm=layer_norm)
    hs, mask = hidden(model, TEXTS)
    mapped, weights = model.bridge(hs, mask)
    final = hs[-1].float()
    if layer_norm:
        final = torch.nn.functional.layer_norm(final, final.shape[-1:])
    expected = model.bridge.mapping(final) * mask[..., None]
    assert torch.allclose(mapped, expected, atol=1e-6)
    assert torch.all(weights[mask.bool()][:, -1] == 1)


def test_global_softmax_with_all_weight_on_last_equals_last():
    last, glob = tiny("last"), tiny("global-softmax")
    glob.bridge.mapping.load_state_dict(last.bridge.mapping.state_dict())
    with torch.no_grad():
        glob.bridge.fusion.layer_logits.zero_()
        glob.bridge.fusion.layer_logits[-1] = 1.0               # tau ~ 101: other layers get e^-101
    hs, mask = hidden(last, TEXTS)
    a, _ = last.bridge(hs, mask)
    b, w = glob.bridge(hs, mask)
    assert torch.allclose(a, b, atol=1e-6)
    assert w[0, 0, -1] > 0.999999


def test_global_softmax_learns_the_temperature_and_weights():
    model = tiny("global-softmax")
    hs, mask = hidden(model, TEXTS)
    mapped, _ = model.bridge(hs, mask)
    mapped.pow(2).mean().backward()
    assert model.bridge.fusion.layer_logits.grad.abs().sum() > 0


@pytest.mark.parametrize("strategy", strategy_names())
def test_pad_tokens_change_no_other_token(strategy):
    model = tiny(strategy)
    hs, mask = hidden(model, ["hello world"])
    base, _ = model.bridge(hs, mask)
    T = mask.shape[1]
    # append 5 pad positions filled with large random states: real tokens must not change
    padded = tuple(torch.cat([h, torch.randn(1, 5, h.shape[-1]) * 100], 1) for h in hs)
    pmask = torch.cat([mask, torch.zeros(1, 5, dtype=mask.dtype)], 1)
    out, weights = model.bridge(padded, pmask)
    assert torch.allclose(out[:, :T], base, atol=1e-6)
    assert torch.all(out[:, T:] == 0) and torch.all(weights[:, T:] == 0)


@pytest.mark.parametrize("strategy", strategy_names())
def test_batch_equals_one_at_a_time(strategy):
    model = tiny(strategy)
    choices = [" yes", " no", " not sure at all"]
    batch = model.classify(TEXTS, choices)
    for text, b in zip(TEXTS, batch):
        single = model.classify([text], choices)[0]
        assert torch.allclose(torch.tensor(b["loglik"]), torch.tensor(single["loglik"]), atol=1e-4)
        assert torch.allclose(torch.tensor(b["token_weights"]), torch.tensor(single["token_weights"]), atol=1e-6)
        assert b["tokens"] == single["tokens"]
    # the training loss of a batch is the token-weighted mean of the single losses
    targets = [" yes", " no", " not sure at all"]
    n_tok = torch.tensor([model.target_ids([t])[0].shape[1] for t in targets], dtype=torch.float)
    singles = torch.stack([model([x], [t]) for x, t in zip(TEXTS, targets)])
    assert torch.allclose(model(TEXTS, targets), (singles * n_tok).sum() / n_tok.sum(), atol=1e-5)


def test_transformer_softmax_in_token_chunks_equals_one_call(monkeypatch):
    import fusion.strategies
    model = tiny("transformer-softmax")
    hs, mask = hidden(model, TEXTS)
    whole, w_whole = model.bridge(hs, mask)
    monkeypatch.setattr(fusion.strategies, "TOKENS_PER_CHUNK", 3)       # several chunks, the last one short
    assert int(mask.sum()) % 3 != 0
    parts, w_parts = model.bridge(hs, mask)
    assert torch.allclose(whole, parts, atol=1e-6) and torch.allclose(w_whole, w_parts, atol=1e-6)


def test_transformer_softmax_cls_only_block_equals_the_full_block():
    model = tiny("transformer-softmax")
    fusion = model.bridge.fusion
    seq = torch.randn(7, len(model.bridge.layers) + 1, fusion.cls.shape[0])
    with torch.no_grad():
        assert torch.allclose(fusion.cls_output(seq), fusion.block(seq)[:, 0], atol=1e-5)


def test_fusion_block_equals_torchs_transformer_encoder_layer():
    """The written-out block keeps nn.TransformerEncoderLayer's parameter names, initial weights and outputs."""
    from fusion.strategies import FusionBlock
    torch.manual_seed(3)
    ours = FusionBlock(16, 32, dropout=0.1)
    torch.manual_seed(3)
    theirs = torch.nn.TransformerEncoderLayer(16, nhead=1, dim_feedforward=32, dropout=0.1, batch_first=True)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in ours.state_dict().items())
    ours.eval(), theirs.eval()
    seq = torch.randn(5, 7, 16)
    with torch.no_grad():
        assert torch.allclose(ours(seq), theirs(seq), atol=1e-5)
        assert torch.allclose(ours(seq, queries=seq[:, :1]), theirs(seq)[:, :1], atol=1e-5)


SHIPPED = sorted(p for p in (Path(__file__).resolve().parents[1] / "checkpoints").glob("*") if is_checkpoint(p))


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints in checkpoints/")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_checkpoints_load_unchanged(path):
    """Every bridge in checkpoints/ loads with the key and shape checks and gives back its weights bit for bit."""
    from safetensors.torch import load_file

    from fusion.strategies import Bridge
    bridge = Bridge(read_config(path))
    load_bridge(path, bridge)
    saved = load_file(str(path / BRIDGE_FILE))
    assert set(saved) == set(bridge.state_dict())
    assert all(torch.equal(saved[k].float(), v) for k, v in bridge.state_dict().items())
