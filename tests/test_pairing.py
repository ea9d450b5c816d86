"""Paired comparisons on identical items (eval.pairing): pairing by doc_hash or (lang, id), the paired bootstrap
interval and McNemar p-value, and the gains over the last-layer bridge of a fixture results directory."""
import pytest

from eval.pairing import gains_over_baseline, pair, paired_difference
from eval.records import load_records


def recs(correct, lang="en", hashed=True, offset=0):
    return [dict(id=i + offset, lang=lang, correct=bool(c), **({"doc_hash": f"{lang}{i}"} if hashed else {}))
            for i, c in enumerate(correct)]


def test_identical_runs_differ_by_nothing():
    a = recs([1, 0, 1, 1, 0] * 10)
    d = paired_difference(a, a)
    assert d["diff"] == 0 and d["ci95"] == [0, 0] and d["n"] == 50 and d["p_value"] == 1.0


def test_a_better_run_and_its_interval():
    a, b = recs([1] * 40 + [0] * 10), recs([1] * 25 + [0] * 25)
    d = paired_difference(a, b, n_boot=500, seed=1)
    assert d["diff"] == pytest.approx(0.3) and d["ci95"][0] > 0 and d["ci95"][0] < 0.3 < d["ci95"][1]
    assert d["p_value"] < 1e-3                                     # 15 discordant pairs, all for a
    assert paired_difference(a, b, n_boot=500, seed=1) == d        # seeded
    assert paired_difference(b, a)["diff"] == pytest.approx(-0.3)


def test_pairs_by_doc_hash_whatever_the_order_and_ids_else_by_language_and_id():
    a = recs([1, 0, 1])
    b = list(reversed(recs([0, 0, 1], offset=100)))                 # other ids, other order, same doc_hashes
    assert [(x["doc_hash"], y["doc_hash"]) for x, y in pair(a, b)] == [("en0", "en0"), ("en1", "en1"), ("en2", "en2")]
    old = recs([1, 0], hashed=False)
    assert len(pair(old, recs([0, 0, 1], hashed=False))) == 2       # (lang, id) for files without doc_hash
    with pytest.raises(ValueError, match="share no test item"):
        paired_difference(recs([1], lang="en"), recs([1], lang="hi"))
    with pytest.raises(ValueError, match="no 'correct' field"):
        paired_difference([{"id": 1, "lang": "en"}], recs([1]))


def test_several_languages_average_their_differences():
    a = recs([1] * 10, "en") + recs([1] * 30, "si")
    b = recs([0] * 10, "en") + recs([1] * 30, "si")
    d = paired_difference(a, b)
    assert d["diff"] == pytest.approx(0.5) and d["languages"] == ["en", "si"]   # unweighted, as the averages


def test_gains_over_the_last_layer_bridge(results_fixture):
    g = gains_over_baseline(load_records(results_fixture), n_boot=200)
    assert set(g["strategy"]) == {"transformer-softmax"}            # the plain LLM and the probe are not gains
    x = g[g["task"] == "xnli"].set_index("lang")
    assert set(x.index) == {"en", "hi", "average"} and (x["baseline"] == "tiny-nli-last").all()
    assert (x["ci_low"] <= x["diff"]).all() and (x["diff"] <= x["ci_high"]).all() and (x["n"] > 0).all()
    sib = g[g["task"] == "sib200"].set_index(["checkpoint", "lang"])
    assert sib.loc[("tiny-topic-transformer-softmax-s1", "group:si-ta-bn"), "baseline"] == "tiny-topic-last-s1"
    assert sib.loc[("tiny-topic-transformer-softmax", "average"), "baseline"] == "tiny-topic-last"
    assert sib.loc[("tiny-topic-transformer-softmax", "group:si-ta-bn"), "n"] == 60
