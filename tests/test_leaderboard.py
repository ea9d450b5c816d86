"""The leaderboard command: good results files make rows; malformed and foreign files are skipped with a warning."""
import json

import pandas as pd
import pytest

from eval.__main__ import main
from eval.results import SCHEMA, write_json_atomic


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
    df = pd.read_csv(tmp_path / "lb.csv")
    assert list(df["model"]) == ["a", "b"]
    a = df.set_index("model").loc["a"]
    assert a["xnli avg"] == 70.0 and a["xnli/en"] == 80.0 and a["xnli/hi"] == 60.0   # the newest file wins
    assert a["ntrex_alignment avg"] == 80.0 and a["ntrex_alignment/si"] == 90.0
    assert df.set_index("model").loc["b", "xnli/en"] == 50.0
    md = (tmp_path / "lb.md").read_text()
    assert "| a " in md and "xnli avg" in md and md.strip() in out


def test_runs_of_other_scorings_get_their_own_rows(tmp_path):
    from eval.leaderboard import build_leaderboard
    d = tmp_path / "results"
    write_json_atomic(d / "a" / "xnli.json", dict(result("a", "xnli", {"en": 0.8}), config={"scoring": "loglik"}))
    write_json_atomic(d / "a2" / "xnli.json", dict(result("a", "xnli", {"en": 0.7}, date="2026-02-01"),
                                                   config={"scoring": "constrained"}))
    df = build_leaderboard(d).set_index("model")
    assert df.loc["a", "xnli/en"] == 80.0 and df.loc["a (constrained)", "xnli/en"] == 70.0


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
