"""Results files in lm-evaluation-harness's schema (eval.results): the shipped files of the format written before
and the new files give the same per-language view, and lm-eval's own table printer reads the new ones."""
import json
from pathlib import Path

import pytest

from eval.results import FILE_SCHEMA, SCHEMA, from_lm_eval, read_results, to_lm_eval, write_json_atomic

RESULTS = Path(__file__).resolve().parents[1] / "results"
SHIPPED = [RESULTS / "plain-pocket" / "sib200.json", RESULTS / "pocket-news-last" / "sinhala_news.json",
           RESULTS / "pocket-news-last" / "ntrex_alignment.json"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_shipped_file_converts_both_ways_without_loss(path, tmp_path):
    view = read_results(path)
    assert view["schema"] == SCHEMA
    written = tmp_path / path.name
    write_json_atomic(written, to_lm_eval(view))
    raw = json.loads(written.read_text())
    assert raw["schema"] == FILE_SCHEMA and raw["task"] == view["task"]
    assert read_results(written) == view                       # the readers see the same run


def test_subtasks_groups_and_sample_counts_of_sib200():
    view = read_results(RESULTS / "plain-pocket" / "sib200.json")
    raw = to_lm_eval(view)
    assert raw["results"]["sib200_sin_Sinh"]["acc,none"] == view["results"]["sin_Sinh"]["acc,none"]
    assert raw["results"]["sib200_sin_Sinh"]["sample_len"] == view["results"]["sin_Sinh"]["n"]
    assert raw["n-samples"]["sib200_sin_Sinh"]["original"] == view["n_samples"]["sin_Sinh"]["available"]
    assert set(raw["groups"]) == {"sib200", "sib200_low-resource", "sib200_si-ta-bn"}
    assert raw["language_groups"]["sib200_si-ta-bn"]["languages"] == ["sin_Sinh", "tam_Taml", "ben_Beng"]
    assert raw["groups"]["sib200"]["acc,none"] == view["results"]["average"]["acc,none"]
    assert all(isinstance(v, (int, float, str)) or v is None for e in raw["results"].values() for v in e.values())


def test_lm_eval_make_table_renders_the_groups():
    lm_eval_utils = pytest.importorskip("lm_eval.utils", reason="lm_eval is not installed (requirements-bench.txt)")
    view = read_results(RESULTS / "plain-pocket" / "sib200.json")
    raw = to_lm_eval(view)
    groups = lm_eval_utils.make_table(raw, "groups")
    rows = {c[0].strip("- "): c for c in ([x.strip() for x in line.strip("|").split("|")]
                                          for line in groups.splitlines()[2:]) if c[4] == "acc"}
    assert set(rows) == {"sib200", "sib200_low-resource", "sib200_si-ta-bn"}
    assert rows["sib200_si-ta-bn"][6] == f"{view['results']['group:si-ta-bn']['acc,none']:.4f}"
    table = lm_eval_utils.make_table(raw)
    assert sum(line.split("|")[5].strip() == "acc" for line in table.splitlines()[2:]) == len(view["results"])


def test_a_malformed_file_is_refused_with_the_reason(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": FILE_SCHEMA, "task": "xnli", "results": {}}))
    with pytest.raises(ValueError, match="malformed"):
        read_results(bad)
    with pytest.raises(ValueError, match="malformed"):
        from_lm_eval({"schema": FILE_SCHEMA, "task": "xnli", "config": {"model_args": {}}, "results": []})
