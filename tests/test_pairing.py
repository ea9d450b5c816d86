"""Paired comparisons on identical items (eval.pairing): pairing by doc_hash or (lang, id), the paired bootstrap
interval and McNemar p-value, and the gains over the last-layer bridge of a fixture results directory."""
import pytest

from eval.pairing import gains_over_baseline, pair, paired_difference, paired_over_seeds
from eval.records import load_records
from tasks import TASKS


def recs(correct, lang="en", hashed=True, offset=0):
    return [dict(id=i + offset, lang=lang, correct=bool(c), **({"doc_hash": f"{lang}{i}"} if hashed else {}))
            for i, c in enumerate(correct)]


def test_identical_runs_differ_by_nothing():
    a = recs([1, 0, 1, 1, 0] * 10)
    d = paired_difference(a, a)
    assert d["diff"] == 0 and d["ci95"] == [0, 0] and d["n"] == 50 and d["p_value"] == 1.0


def test_lm_eval_samples_pair_with_the_older_records():
    """`acc` (lm-eval's --log_samples field) and `correct` (files written before) are read alike."""
    a = recs([1] * 40 + [0] * 10)
    b = [{**{k: v for k, v in r.items() if k != "correct"}, "acc": float(r["correct"])} for r in recs([1] * 25 + [0] * 25)]
    assert paired_difference(a, b, n_boot=200)["diff"] == pytest.approx(0.3)
    assert paired_difference(b, a, n_boot=200)["diff"] == pytest.approx(-0.3)


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
    with pytest.raises(ValueError, match="no 'acc' \\(or older 'correct'\\) field"):
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


def test_over_seeds_averages_each_strategy_over_its_seeds_per_item():
    # a: 3 seeds, each right on 30 of 40 items, but on different items; b: 3 seeds, right on 20 of 40
    a = [recs([1] * 30 + [0] * 10), recs([0] * 10 + [1] * 30), recs([1] * 20 + [0] * 10 + [1] * 10)]
    b = [recs([1] * 20 + [0] * 20), recs([0] * 20 + [1] * 20), recs([1] * 20 + [0] * 20)]
    d = paired_over_seeds(a, b, n_boot=500, n_perm=500)
    assert d["diff"] == pytest.approx(0.25) and d["n"] == 40 and d["seeds"] == [3, 3]
    assert d["per_seed"] == pytest.approx([0.25, 0.25, 0.25])
    assert 0 < d["ci95"][0] < 0.25 < d["ci95"][1] and d["p_value"] < 0.01
    same = paired_over_seeds(a, a, n_perm=500)
    assert same["diff"] == 0 and same["p_value"] == 1.0
    # only the items every run scored count
    d = paired_over_seeds([recs([1] * 5)], [recs([0] * 5), recs([0] * 3)], n_boot=0)
    assert d["n"] == 3 and d["diff"] == 1.0
    with pytest.raises(ValueError, match="share no test item"):
        paired_over_seeds([recs([1], lang="en")], [recs([1], lang="hi")])


def test_the_seed_and_item_interval_sees_what_the_item_interval_cannot():
    # a's three seeds disagree (100%, 10%, 100% of 200 items), b's agree (60%): over the items a is clearly better,
    # but a redraw of a's seeds is as likely to give the bad seed twice; the two-level interval must cover 0
    a = [recs([1] * 200), recs([1] * 20 + [0] * 180), recs([1] * 200)]
    b = [recs([1] * 120 + [0] * 80)] * 3
    d = paired_over_seeds(a, b, n_boot=2000, n_perm=500)
    assert d["diff"] == pytest.approx(0.1)
    assert d["ci95"][0] > 0 and d["p_value"] < 0.01                 # items only: "a is better"
    lo, hi = d["ci95_seeds"]
    assert lo < 0 < hi and lo < d["ci95"][0] and hi >= d["ci95"][1]  # seeds too: not shown
    # seeds that agree: the two intervals nearly coincide
    same = paired_over_seeds([recs([1] * 150 + [0] * 50)] * 3, b, n_boot=2000, n_perm=500)
    assert same["ci95_seeds"] == pytest.approx(same["ci95"], abs=0.02)
    assert paired_over_seeds(a, b, n_boot=0)["ci95_seeds"] is None


def test_strategies_over_seeds_on_the_fixture(results_fixture):
    from eval.seeds import accuracy_table, compare, markdown
    records = load_records(results_fixture)
    acc = accuracy_table(records, "sib200").set_index("strategy")
    assert set(acc.index) == {"last", "transformer-softmax", "probe"}
    # seeds come from the checkpoints' train_results.json; the fixture's probe run names no checkpoint
    assert acc.loc["last", "seeds"] == "0, 1" and acc.loc["probe", "seeds"] == "?"
    assert acc.loc["last", "all sd"] >= 0 and acc.loc["transformer-softmax", "all"] > acc.loc["last", "all"]
    g = compare(records, "sib200", n_boot=200).set_index(["strategy", "baseline", "column"])
    row = g.loc[("transformer-softmax", "last", "all")]
    assert row["seeds"] == "2 vs 2" and row["n"] == 90 and len(row["per_seed"]) == 2
    assert row["ci_low"] <= row["diff"] <= row["ci_high"]
    assert row["seeds_ci_low"] <= row["ci_low"] + 0.02 and row["seeds_ci_high"] >= row["ci_high"] - 0.02
    assert g.loc[("transformer-softmax", "probe", "si-ta-bn"), "seeds"] == "2 vs 1"
    assert ("last", "last", "all") not in g.index and "eng_Latn" in set(g.reset_index()["column"])
    assert "| transformer-softmax - last | 2 vs 2 |" in markdown(records, "sib200")


def test_strategies_over_seeds_leave_out_a_language_no_run_scored(tmp_path):
    # Sinhala news lists English (its hub source has it), but the shared files hold Sinhala only: no "en" column,
    # and no "the runs share no test item" error from pairing an empty English selection
    from eval.seeds import accuracy_table, compare, markdown
    from tests.conftest import seeded_checkpoint, write_run
    assert "en" in TASKS["sinhala_news"].languages
    for s in (0, 1):
        for strategy, accuracy in (("last", 0.5), ("residual-softmax", 0.8)):
            name = f"tiny-news-{strategy}{'-s1' if s else ''}"
            write_run(tmp_path / "results", name, "sinhala_news", {"si": accuracy}, strategy=strategy, n=60, seed=s,
                      path=seeded_checkpoint(tmp_path / "checkpoints", name, "sinhala_news", strategy, s))
    records = load_records(tmp_path / "results")
    assert "en" not in accuracy_table(records, "sinhala_news").columns
    g = compare(records, "sinhala_news", n_boot=200)
    assert list(g["column"]) == ["all"] and g.iloc[0]["diff"] > 0.1 and g.iloc[0]["n"] == 60
    assert "| residual-softmax - last | 2 vs 2 |" in markdown(records, "sinhala_news")


def test_bridges_trained_on_a_data_variant_are_a_strategy_of_their_own(tmp_path):
    # last-layer bridges trained on sentence chunks are compared with the whole-text last layer, not pooled with it
    import json
    from eval.seeds import accuracy_table, compare
    from tests.conftest import write_run
    results = tmp_path / "results"
    for s in (0, 1):
        for name, variant, acc in (("tiny-news-last", "", 0.5), ("tiny-news-sent-last", "sentences<=1", 0.8)):
            name += "-s1" if s else ""
            ckpt = tmp_path / "checkpoints" / name
            ckpt.mkdir(parents=True)
            (ckpt / "train_results.json").write_text(json.dumps({"seed": s, "train_variant": variant}))
            write_run(results, name, "sinhala_news", {"si": acc}, strategy="last", n=60, seed=s, path=ckpt)
    records = load_records(results)
    assert set(records["train_variant"]) == {"", "sentences<=1"}
    table = accuracy_table(records, "sinhala_news").set_index("strategy")
    assert table.loc["last (sentences<=1)", "seeds"] == "0, 1" and table.loc["last", "seeds"] == "0, 1"
    g = compare(records, "sinhala_news", n_boot=200).set_index(["strategy", "baseline", "column"])
    assert g.loc[("last (sentences<=1)", "last", "all"), "diff"] > 0.1
