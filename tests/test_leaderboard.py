"""The tidy results table (eval.records), its per-benchmark views (eval.leaderboard) and the leaderboard command:
good results files make rows, old ones load with what they lack shown as unknown, malformed and foreign files are
skipped with a warning."""
import json
from pathlib import Path

import pandas as pd
import pytest

from eval.__main__ import main
from eval.leaderboard import (benchmark_table, benchmarks, language_views, partial_runs, reference_lines, select,
                              view_columns)
from eval.records import load_records, mean_over_seeds, model_cards
from eval.results import SCHEMA
from fusion.files import write_json_atomic


def result(name, task, accs: dict, date="2026-01-01T00:00:00+00:00", kind="fused", metric="acc,none"):
    langs = {lang: {metric: a, f"{metric.split(',')[0]}_ci95,none": [a - 0.05, a + 0.05], "n": 100}
             for lang, a in accs.items()}
    langs["average"] = {metric: sum(accs.values()) / len(accs), "n": 100 * len(accs)}
    return {"schema": SCHEMA, "model": {"name": name, "kind": kind, "strategy": "global-softmax",
                                        "encoder": "e5", "llm": "gemma"},
            "task": task, "results": langs, "date": date}


def test_leaderboard_from_good_malformed_and_foreign_files(tmp_path, capsys):
    d = tmp_path / "results"
    write_json_atomic(d / "a" / "xnli.json", result("a", "xnli", {"en": 0.8, "hi": 0.6}))
    write_json_atomic(d / "a" / "old" / "xnli.json", result("a", "xnli", {"en": 0.1, "hi": 0.1}, date="2020-01-01"))
    write_json_atomic(d / "b" / "xnli.json", result("b", "xnli", {"en": 0.5, "hi": 0.4}, kind="plain"))
    write_json_atomic(d / "a" / "ntrex_alignment.json",
                      result("a", "ntrex_alignment", {"si": 0.9, "ta": 0.7}, metric="retrieval@1,fused"))
    (d / "a" / "xnli.predictions.jsonl").write_text('{"id": 1}\n')                 # not a results file
    (d / "truncated.json").write_text('{"schema": "layerbridge-results/1", "model": ')
    (d / "foreign.json").write_text(json.dumps({"version": 1, "results": {"en": 0.5}}))
    (d / "list.json").write_text("[1, 2, 3]")
    (d / "latin1.json").write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    bad_values = result("c", "xnli", {"en": 0.5})
    bad_values["results"]["en"]["acc,none"] = "high"
    (d / "bad_values.json").write_text(json.dumps(bad_values))
    bad_name = result("d", "xnli", {"en": 0.5})
    bad_name["model"]["name"] = ["d"]
    (d / "bad_name.json").write_text(json.dumps(bad_name))

    main(["leaderboard", "--results", str(d), "--output", str(tmp_path / "lb")])
    out, err = capsys.readouterr()
    for name in ("truncated.json", "foreign.json", "list.json", "latin1.json", "bad_values.json", "bad_name.json"):
        assert f"skipping {d / name}" in err, name
    assert err.count("warning: ") == 6 and "Traceback" not in err
    df = pd.read_csv(tmp_path / "lb.csv")   # the tidy table
    assert sorted(set(df["model"])) == ["a", "b"]
    value = df.set_index(["model", "task", "lang", "metric"])["value"]
    assert value[("a", "xnli", "average", "acc,none")] == pytest.approx(0.7)            # the newest file wins
    assert value[("a", "xnli", "en", "acc,none")] == pytest.approx(0.8)
    assert value[("a", "ntrex_alignment", "si", "retrieval@1,fused")] == pytest.approx(0.9)
    assert value[("b", "xnli", "en", "acc,none")] == pytest.approx(0.5)
    md = (tmp_path / "lb.md").read_text()
    assert "## xnli (acc,none, %)" in md and "| a " in md and "80.0 ±5.0" in md and md.strip() in out


def test_runs_of_other_scorings_get_their_own_rows(tmp_path):
    d = tmp_path / "results"
    write_json_atomic(d / "a" / "xnli.json", dict(result("a", "xnli", {"en": 0.8}), config={"scoring": "loglik"}))
    write_json_atomic(d / "a2" / "xnli.json", dict(result("a", "xnli", {"en": 0.7}, date="2026-02-01"),
                                                   config={"scoring": "constrained", "precision": "bfloat16"}))
    table = benchmark_table(load_records(d), "xnli", formatted=False).set_index("model")
    assert table.loc["a", "en"] == 80.0 and table.loc["a (constrained) [bfloat16]", "en"] == 70.0


def test_leaderboard_default_output_and_missing_dir(tmp_path, capsys):
    write_json_atomic(tmp_path / "r" / "x" / "xnli.json", result("x", "xnli", {"en": 0.3}))
    main(["leaderboard", "--results", str(tmp_path / "r")])
    assert (tmp_path / "r" / "leaderboard.csv").is_file() and (tmp_path / "r" / "leaderboard.md").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["leaderboard", "--results", str(tmp_path / "missing")])
    assert e.value.code == 2 and "error: results directory" in capsys.readouterr().err


def test_leaderboard_of_an_empty_dir(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    main(["leaderboard", "--results", str(tmp_path / "r")])
    assert "(no results)" in capsys.readouterr().out


# ---------------------------------------------------------------- the tidy table of a fixture directory

def test_tidy_table_has_a_row_per_run_task_language_metric(results_fixture):
    r = load_records(results_fixture)
    assert benchmarks(r) == ["sib200", "xnli"]
    acc = r[r["metric"] == "acc,none"].set_index(["model", "task", "lang"])
    assert not acc.index.duplicated().any()
    assert set(acc.loc["tiny-last"].index) == {("xnli", "en"), ("xnli", "hi"), ("xnli", "average")}
    row = acc.loc[("tiny-last", "xnli", "en")]
    assert row["checkpoint"] == "tiny-nli-last" and row["family"] == "nli" and row["precision"] == "float32"
    assert row["n"] == 40 and row["ci_low"] <= row["value"] <= row["ci_high"] and row["stderr"] > 0
    assert row["seed"] == 0 and row["task_version"] == "1.0" and len(row["task_hash"]) == 64
    # sib200: the language groups, seeds from the -s<N> suffix, a probe as an ordinary row
    sib = acc.loc["tiny-topic-last-s1"].loc["sib200"]
    assert {"group:low-resource", "group:si-ta-bn", "average", "sin_Sinh"} <= set(sib.index)
    assert sib.loc["group:si-ta-bn", "level"] == "group" and sib.loc["sin_Sinh", "seed"] == 1
    assert acc.loc[("probe-tiny", "sib200", "eng_Latn"), "kind"] == "probe"
    for metric in ("f1_macro,none",):
        assert metric in set(r["metric"])


def test_old_files_load_with_unknown_fields(results_fixture):
    r = load_records(results_fixture)
    old = r[r["model"] == "old-model"].set_index("lang")
    assert set(old.index) == {"en", "hi", "average"}
    assert (old["precision"] == "unknown").all() and (old["scoring"] == "unknown").all()
    assert (old["task_version"] == "unknown").all() and old["stderr"].isna().all() and old["seed"].isna().all()
    assert old.loc["en", "ci_high"] == 0.7 and pd.isna(old.loc["average", "ci_low"])


def test_group_averages_missing_from_an_old_file_come_from_the_task(tmp_path):
    from tests.conftest import write_run
    data = write_run(tmp_path, "old-sib", "sib200", {"sin_Sinh": 0.4, "tam_Taml": 0.6, "eng_Latn": 0.9})
    for key in [k for k in data["results"] if k.startswith("group:")]:
        del data["results"][key]
    write_json_atomic(tmp_path / "old-sib" / "sib200.json", data)
    acc = load_records(tmp_path).query("metric == 'acc,none'").set_index("lang")
    assert acc.loc["group:si-ta-bn", "value"] == pytest.approx((acc.loc["sin_Sinh", "value"]
                                                                + acc.loc["tam_Taml", "value"]) / 2)
    assert acc.loc["group:si-ta-bn", "level"] == "group" and pd.isna(acc.loc["group:si-ta-bn", "ci_low"])


def test_benchmark_table_shows_intervals_groups_and_n(results_fixture):
    r = load_records(results_fixture)
    t = benchmark_table(r, "sib200")
    assert list(t.columns[:6]) == ["model", "checkpoint", "kind", "strategy", "seed", "precision"]
    assert list(t.columns[6:]) == ["average", "group:low-resource", "group:si-ta-bn", "eng_Latn", "sin_Sinh",
                                   "tam_Taml", "n"]
    assert t["average"].str.match(r"^\d+\.\d ±\d+\.\d$").all() and set(t["n"]) == {"30"}
    assert t.iloc[0]["strategy"] == "transformer-softmax"          # best average first
    x = benchmark_table(r, "xnli").set_index("model")
    assert x.loc["old-model", "en"] == "60.0 ±10.0" and x.loc["old-model", "average"] == "50.0"  # no interval
    assert x.loc["tiny-last", "seed"] == "0" and x.loc["old-model", "seed"] == ""
    assert reference_lines(r, "xnli")["chance"] == pytest.approx(1 / 3)
    assert set(reference_lines(r, "xnli")) == {"chance", "plain-tiny"}


def test_mean_over_seeds(results_fixture):
    r = load_records(results_fixture)
    rows = select(r, "sib200", seeds="mean").set_index(["model", "lang"])
    last = rows.loc[("tiny-topic-last", "eng_Latn")]
    runs = select(r, "sib200").set_index(["model", "lang"])["value"]
    assert last["n_seeds"] == 2 and last["checkpoint"] == "tiny-topic-last, tiny-topic-last-s1"
    assert last["value"] == pytest.approx((runs[("tiny-topic-last", "eng_Latn")]
                                           + runs[("tiny-topic-last-s1", "eng_Latn")]) / 2)
    assert last["ci_low"] <= last["value"] <= last["ci_high"]
    assert rows.loc[("probe-tiny", "eng_Latn"), "n_seeds"] == 1
    table = benchmark_table(r, "sib200", seeds="mean")
    assert len(table) == 3 and set(table["seed"]) == {"mean of 2", "mean of 1"}
    assert mean_over_seeds(r.iloc[0:0]).empty


def test_model_cards_name_the_training(results_fixture):
    r = load_records(results_fixture)
    cards = {c["checkpoint"]: c for c in model_cards(r[r["task"] == "xnli"])}
    assert cards["tiny-nli-last"]["steps"] == 150 and cards["tiny-nli-last"]["train task"] == "xnli"
    assert cards["tiny-nli-last"]["seed"] == 0 and cards["tiny-nli-last"]["precision"] == "float32"
    assert cards["old-model"]["steps"] == "unknown" and cards["old-model"]["precision"] == "unknown"


def test_model_cards_show_how_the_fusion_spreads_its_weight(tmp_path):
    from tests.conftest import write_run
    ckpt = tmp_path / "checkpoints" / "tiny-topic-transformer-softmax"
    ckpt.mkdir(parents=True)
    (ckpt / "train_results.json").write_text(json.dumps({"task": "sib200", "seed": 0, "dev_weight_stats": {
        "entropy": 1.4663, "max_weight": 0.5496, "token_variation": 0.447, "max_entropy": 2.4849, "tokens": 3740}}))
    write_run(tmp_path / "results", "tiny-topic-transformer-softmax", "sib200", {"eng_Latn": 0.8},
              strategy="transformer-softmax", path=ckpt)
    write_run(tmp_path / "results", "plain-tiny", "sib200", {"eng_Latn": 0.4}, kind="plain")
    cards = {c["model"]: c for c in model_cards(load_records(tmp_path / "results"))}
    key = "layer weights per token (English dev)"
    assert cards["tiny-topic-transformer-softmax"][key] == ("largest 0.55, entropy 1.47 of 2.48 nats, variation "
                                                            "across a text's tokens 0.45 (3740 tokens)")
    assert cards["plain-tiny"][key] == "unknown"


def test_partial_runs_are_kept_hidden_or_labelled_with_their_n(tmp_path):
    """A `--limit` run (fewer examples of a language than the benchmark's largest sample) is partial."""
    from tests.conftest import write_run
    write_run(tmp_path, "full-last", "xnli", {"en": 0.8, "hi": 0.6}, strategy="last", n=40)
    write_run(tmp_path, "plain-tiny", "xnli", {"en": 0.4, "hi": 0.3}, kind="plain", n=10)
    write_run(tmp_path, "plain-tiny-full", "xnli", {"en": 0.45}, kind="plain", n=40)   # fewer languages: not partial
    r = load_records(tmp_path)
    assert {Path(f).parent.name: n for f, n in partial_runs(r, "xnli").items()} == {"plain-tiny": "10"}
    assert set(select(r, "xnli")["model"]) == {"full-last", "plain-tiny", "plain-tiny-full"}          # "keep"
    assert set(select(r, "xnli", partial="hide")["model"]) == {"full-last", "plain-tiny-full"}
    labelled = benchmark_table(r, "xnli", partial="label").set_index("model")
    assert labelled.loc["plain-tiny (partial, n = 10)", "n"] == "10" and "full-last" in labelled.index
    assert set(reference_lines(r, "xnli", partial="hide")) == {"chance", "plain-tiny-full"}
    with pytest.raises(ValueError, match="partial must be one of"):
        select(r, "xnli", partial="maybe")


def test_language_views_show_a_group_alone_sorted_by_it(results_fixture):
    assert language_views("sib200") == {"si-ta-bn": ("sin_Sinh", "tam_Taml", "ben_Beng"),
                                        "low-resource": language_views("sib200")["low-resource"], "all": None}
    assert language_views("xnli") == {"all": None}
    r = load_records(results_fixture)
    rows = select(r, "sib200")
    assert view_columns("sib200", rows, "si-ta-bn") == ["group:si-ta-bn", "sin_Sinh", "tam_Taml"]
    assert view_columns("sib200", rows, "all")[:3] == ["average", "group:low-resource", "group:si-ta-bn"]
    t = benchmark_table(r, "sib200", view="si-ta-bn", formatted=False)
    assert list(t.columns[6:]) == ["group:si-ta-bn", "sin_Sinh", "tam_Taml", "n"]
    assert t["group:si-ta-bn"].is_monotonic_decreasing                      # best on the group first
