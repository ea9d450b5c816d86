"""fusion.weight_stats: entropy, largest weight and per-text variation of per-token layer weights."""
import math

import pytest
import torch

from fusion.weight_stats import token_entropy, weight_stats


def test_one_hot_tokens_have_no_entropy_and_full_weight():
    one_hot = torch.eye(4)[[0, 2, 3]]                                # 3 tokens, each on one layer
    s = weight_stats([one_hot])
    assert s["entropy"] == pytest.approx(0, abs=1e-6) and s["max_weight"] == 1.0 and s["tokens"] == 3
    # mean mix (1/3, 0, 1/3, 1/3); each token is 2/3 away from it in total variation
    assert s["token_variation"] == pytest.approx(2 / 3, abs=1e-4)


def test_the_same_mix_for_every_token_varies_not_at_all():
    mix = torch.tensor([0.1, 0.2, 0.3, 0.4])
    s = weight_stats([mix.expand(5, 4), mix.expand(2, 4)])
    assert s["token_variation"] == pytest.approx(0, abs=1e-6)
    assert s["entropy"] == pytest.approx(-(mix * mix.log()).sum().item(), abs=1e-4)
    assert s["max_weight"] == pytest.approx(0.4) and s["max_entropy"] == pytest.approx(math.log(4), abs=1e-4)


def test_uniform_weights_reach_the_maximum_entropy_and_zero_rows_count_zero():
    assert token_entropy(torch.full((3,), 1 / 3)).item() == pytest.approx(math.log(3), abs=1e-5)
    assert token_entropy(torch.zeros(3)).item() == 0.0                 # a pad row
    assert weight_stats([[]]) == {}
