"""Classification metrics with percentile-bootstrap 95% confidence intervals.

Point estimates come from scikit-learn (`accuracy_score`, `f1_score(average="macro", labels=<all task labels>)`).
We deliberately do not use Hugging Face `evaluate.load("accuracy")` / `evaluate.load("f1")`: `evaluate.load`
fetches the metric's script from the hub at run time and fails offline.

Macro-F1 averages over ALL of the task's labels, so a class that is never predicted (or, in a small sample, never
present) counts with F1 = 0 (zero_division=0). A prediction outside the labels (a generated answer that matches no
label, stored as -1) is simply wrong.

Bootstrap: B resamples of the examples with replacement (seeded, per language), the metric on each, and the 2.5 /
97.5 percentiles. The replicates are computed vectorised in numpy with the same definitions as scikit-learn (the
tests check that they agree); calling f1_score 1,000 times per language would take ~1 s each.
"""
import zlib

import numpy as np

# scikit-learn is imported where it is used: an evaluation run needs it only once scoring is done, and importing it
# (with pandas) adds ~0.1 GB to the process while the model runs.


def accuracy(y_true, y_pred) -> float:
    from sklearn.metrics import accuracy_score
    return float(accuracy_score(np.asarray(y_true), np.asarray(y_pred)))


def macro_f1(y_true, y_pred, labels) -> float:
    from sklearn.metrics import f1_score
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), labels=list(labels), average="macro",
                          zero_division=0))


def bootstrap_indices(n: int, n_boot: int, seed: int, key: str = "") -> np.ndarray:
    """[n_boot, n] resample indices; a pure function of (n, n_boot, seed, key) (key = the language)."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.integers(0, n, size=(n_boot, n))


def accuracy_replicates(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Accuracy of each resample: idx [B, n] -> [B]."""
    return (y_true[idx] == y_pred[idx]).mean(1)


def macro_f1_replicates(y_true: np.ndarray, y_pred: np.ndarray, idx: np.ndarray, labels) -> np.ndarray:
    """Macro-F1 over `labels` of each resample, F1_c = 2 tp / (2 tp + fp + fn) (0 where undefined): idx [B, n] -> [B]."""
    t, p = y_true[idx], y_pred[idx]                                   # [B, n]
    f1 = []
    for c in labels:
        tp = ((t == c) & (p == c)).sum(1)
        fp = ((t != c) & (p == c)).sum(1)
        fn = ((t == c) & (p != c)).sum(1)
        denom = 2 * tp + fp + fn
        f1.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return np.mean(f1, axis=0)


def accuracy_stderr(correct) -> float | None:
    """lm-evaluation-harness's `acc_stderr`: the sample standard deviation of the 0/1 scores over sqrt(n)
    (None for a single example)."""
    correct = np.asarray(correct, dtype=float)
    return float(correct.std(ddof=1) / np.sqrt(len(correct))) if len(correct) > 1 else None


def percentile_ci(replicates: np.ndarray) -> list[float]:
    lo, hi = np.percentile(replicates, [2.5, 97.5])
    return [float(lo), float(hi)]


def classification_metrics(per_lang: dict, labels, n_boot: int = 1000, seed: int = 0, groups: dict | None = None) -> dict:
    """per_lang: {lang: (y_true, y_pred)} -> {lang: {"acc,none", "acc_stderr,none", "acc_ci95,none", "f1_macro,none",
    "f1_macro_ci95,none", "n"}, "average": same keys, the unweighted mean over languages, and for each named group
    of `groups` ({name: [langs]}) with at least one language present, "group:<name>": the mean over its languages
    (plus "languages": which of them were present).

    An average's interval resamples every language (with the same resamples as its own interval) and averages
    the per-language metrics of each replicate. n_boot = 0 gives no intervals (None)."""
    labels = list(labels)
    out, reps = {}, {}
    for lang, (y_true, y_pred) in per_lang.items():
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if len(y_true) == 0:
            raise ValueError(f"no examples for language {lang!r}")
        row = {"acc,none": accuracy(y_true, y_pred), "acc_stderr,none": accuracy_stderr(y_true == y_pred),
               "acc_ci95,none": None,
               "f1_macro,none": macro_f1(y_true, y_pred, labels), "f1_macro_ci95,none": None, "n": len(y_true)}
        if n_boot > 0:
            idx = bootstrap_indices(len(y_true), n_boot, seed, lang)
            reps[lang] = {"acc": accuracy_replicates(y_true, y_pred, idx),
                          "f1_macro": macro_f1_replicates(y_true, y_pred, idx, labels)}
            row["acc_ci95,none"] = percentile_ci(reps[lang]["acc"])
            row["f1_macro_ci95,none"] = percentile_ci(reps[lang]["f1_macro"])
        out[lang] = row
    averages = {"average": list(out)}
    for name, members in (groups or {}).items():
        present = [lang for lang in members if lang in out]
        if present:
            averages[f"group:{name}"] = present
    for name, langs in averages.items():
        out[name] = mean_over(out, reps, langs, n_boot)
        if name.startswith("group:"):
            out[name]["languages"] = langs
    return out


def mean_over(rows: dict, reps: dict, langs: list, n_boot: int) -> dict:
    """The unweighted mean of the languages' metrics, with the interval of the mean of their bootstrap replicates."""
    avg = {"n": sum(rows[lang]["n"] for lang in langs)}
    errors = [rows[lang].get("acc_stderr,none") for lang in langs]   # independent languages: se of the mean
    avg["acc_stderr,none"] = float(np.sqrt(sum(e ** 2 for e in errors)) / len(errors)) \
        if all(e is not None for e in errors) else None
    for metric in ("acc", "f1_macro"):
        avg[f"{metric},none"] = float(np.mean([rows[lang][f"{metric},none"] for lang in langs]))
        avg[f"{metric}_ci95,none"] = percentile_ci(np.mean([reps[lang][metric] for lang in langs], axis=0)) \
            if n_boot > 0 else None
    return {k: avg[k] for k in ("acc,none", "acc_stderr,none", "acc_ci95,none", "f1_macro,none", "f1_macro_ci95,none",
                                "n")}
