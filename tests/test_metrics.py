"""Metric code against hand-computed values, and the bootstrap's properties."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from eval.metrics import (accuracy, bootstrap_indices, classification_metrics, macro_f1, macro_f1_replicates,
                          accuracy_replicates)

Y_TRUE = [0, 0, 1, 1, 2, 2]
Y_PRED = [0, 1, 1, 1, 0, 0]   # class 2 is never predicted


def test_accuracy_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(3 / 6)
    assert accuracy([1, 1], [1, 1]) == 1.0


def test_macro_f1_by_hand_with_a_class_never_predicted():
    # class 0: tp 1, fp 2, fn 1 -> 2/5; class 1: tp 2, fp 1, fn 0 -> 4/5; class 2: tp 0 -> 0
    assert macro_f1(Y_TRUE, Y_PRED, [0, 1, 2]) == pytest.approx((0.4 + 0.8 + 0.0) / 3)
    # a task label absent from both gold and predictions still counts (F1 0) in the macro average
    assert macro_f1(Y_TRUE, Y_PRED, [0, 1, 2, 3]) == pytest.approx((0.4 + 0.8) / 4)


def test_unmatched_generation_counts_as_wrong():
    pred = [0, -1, 1, 1, 0, 0]   # -1: generated text matched no label
    assert accuracy(Y_TRUE, pred) == pytest.approx(0.5)
    # class 1 now: tp 2, fp 0, fn 0 -> 1; class 0 unchanged 0.4; class 2: 0
    assert macro_f1(Y_TRUE, pred, [0, 1, 2]) == pytest.approx(1.4 / 3)


def test_vectorised_replicates_equal_sklearn():
    rng = np.random.default_rng(1)
    t, p = rng.integers(0, 4, 80), rng.integers(-1, 4, 80)
    idx = bootstrap_indices(80, 50, seed=3, key="xx")
    ours = macro_f1_replicates(t, p, idx, range(4))
    ref = [f1_score(t[i], p[i], labels=range(4), average="macro", zero_division=0) for i in idx]
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    np.testing.assert_allclose(accuracy_replicates(t, p, idx), [(t[i] == p[i]).mean() for i in idx])


def test_bootstrap_ci_contains_point_estimate_and_is_deterministic():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 3, 200)
    p = np.where(rng.random(200) < 0.6, t, rng.integers(0, 3, 200))
    a = classification_metrics({"en": (t, p), "si": (t[:100], p[:100])}, range(3), n_boot=500, seed=7)
    b = classification_metrics({"en": (t, p), "si": (t[:100], p[:100])}, range(3), n_boot=500, seed=7)
    c = classification_metrics({"en": (t, p), "si": (t[:100], p[:100])}, range(3), n_boot=500, seed=8)
    assert a == b
    assert a["en"]["acc_ci95,none"] != c["en"]["acc_ci95,none"]
    for lang in ("en", "si", "average"):
        for m in ("acc", "f1_macro"):
            lo, hi = a[lang][f"{m}_ci95,none"]
            assert lo < a[lang][f"{m},none"] < hi, (lang, m)
    assert a["en"]["acc,none"] == pytest.approx((t == p).mean())
    assert a["average"]["acc,none"] == pytest.approx((a["en"]["acc,none"] + a["si"]["acc,none"]) / 2)
    assert a["en"]["n"] == 200 and a["si"]["n"] == 100
    # fewer examples, wider interval
    width = lambda lang: np.diff(a[lang]["acc_ci95,none"])[0]
    assert width("si") > width("en")
    # a language's interval does not depend on which other languages are evaluated
    alone = classification_metrics({"si": (t[:100], p[:100])}, range(3), n_boot=500, seed=7)
    assert alone["si"] == a["si"]


def test_no_bootstrap_gives_no_interval():
    r = classification_metrics({"en": (Y_TRUE, Y_PRED)}, range(3), n_boot=0)
    assert r["en"]["acc_ci95,none"] is None and r["average"]["f1_macro_ci95,none"] is None
    assert r["average"]["acc,none"] == pytest.approx(0.5)


def test_stratified_sample_balances_label_sorted_files():
    from tasks.data import stratified_sample
    rows = [{"id": i, "label": i // 100} for i in range(500)]   # sorted by label, like the shared files
    sample = stratified_sample(rows, 50)
    assert [sum(r["label"] == c for r in sample) for c in range(5)] == [10] * 5
    assert [r["id"] for r in sample] == sorted(r["id"] for r in sample)          # file order kept
    assert sample == stratified_sample(rows, 50)                                  # deterministic
    assert stratified_sample(rows, None) == rows and stratified_sample(rows, 900) == rows
