"""Results files in lm-evaluation-harness's schema (eval.results): every shipped file of the format written before
converts to the new one and back without loss, lm-eval's own table printer reads the new files, and the readers
(the leaderboard's records, `eval seeds`' pairing) take both formats side by side."""
import json
from pathlib import Path

import pytest

from eval.results import FILE_SCHEMA, SCHEMA, from_lm_eval, read_results, to_lm_eval
from fusion.files import write_json_atomic

RESULTS = Path(__file__).resolve().parents[1] / "results"
ALL_SHIPPED = sorted(p for p in RESULTS.rglob("*.json"))
SHIPPED = [p for p in ALL_SHIPPED if json.loads(p.read_text()).get("schema") == SCHEMA]   # written before the change


def test_results_ships_files_of_the_format_written_before():
    """The files in results/ were kept, not rewritten: the readers must take them as they are, beside the runs written
    since in the new format."""
    assert len(SHIPPED) > 50
    assert {json.loads(p.read_text())["schema"] for p in ALL_SHIPPED} <= {SCHEMA, FILE_SCHEMA}
    for path in set(ALL_SHIPPED) - set(SHIPPED):
        assert to_lm_eval(read_results(path))["results"] == json.loads(path.read_text())["results"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_shipped_file_converts_both_ways_without_loss(path, tmp_path):
    view = read_results(path)
    written = tmp_path / path.name
    write_json_atomic(written, to_lm_eval(view))
    raw = json.loads(written.read_text())
    assert raw["schema"] == FILE_SCHEMA and raw["task"] == view["task"]
    assert raw["config"]["model"] == view["model"]["name"] and raw["config"]["model_args"] == view["model"]
    assert read_results(written) == view                       # the readers see the same run


def test_subtasks_groups_and_sample_counts_of_sib200():
    view = read_results(RESULTS / "pocket-topic-last" / "sib200.json")
    raw = to_lm_eval(view)
    assert raw["results"]["sib200_sin_Sinh"]["acc,none"] == view["results"]["sin_Sinh"]["acc,none"]
    assert raw["results"]["sib200_sin_Sinh"]["sample_len"] == view["results"]["sin_Sinh"]["n"]
    assert raw["n-samples"]["sib200_sin_Sinh"]["original"] == view["n_samples"]["sin_Sinh"]["available"]
    assert raw["n-samples"]["sib200_sin_Sinh"]["effective"] == view["n_samples"]["sin_Sinh"]["effective"]
    assert set(raw["groups"]) == {"sib200", "sib200_low-resource", "sib200_si-ta-bn"}
    assert raw["group_subtasks"]["sib200"][0] == "sib200_eng_Latn" and "sib200" not in raw["group_subtasks"]["sib200"]
    assert raw["language_groups"]["sib200_si-ta-bn"]["languages"] == ["sin_Sinh", "tam_Taml", "ben_Beng"]
    assert raw["groups"]["sib200"]["acc,none"] == view["results"]["average"]["acc,none"]
    assert raw["intervals"]["sib200_sin_Sinh"]["acc_ci95,none"] == view["results"]["sin_Sinh"]["acc_ci95,none"]
    assert raw["versions"]["sib200_sin_Sinh"] == view["task_config"]["version"] and raw["n-shot"]["sib200"] == 0
    assert raw["higher_is_better"]["sib200"] == {"acc": True, "f1_macro": True}
    assert raw["library_versions"] == view["versions"] and raw["date_utc"] == view["date"]
    assert all(isinstance(v, (int, float, str)) or v is None for e in raw["results"].values() for v in e.values())
    assert to_lm_eval(read_results(RESULTS / "plain-pocket" / "sib200.json"))["versions"] == {}   # no task version


def test_centring_and_alignment_provenance_stay_as_extra_keys():
    centred = to_lm_eval(read_results(RESULTS / "probe-pocket+centered" / "sib200.json"))
    assert centred["config"]["model_args"]["centering"]["uses_unlabeled_target_text"] is True
    alignment = to_lm_eval(read_results(RESULTS / "pocket-news-last" / "ntrex_alignment.json"))
    assert alignment["higher_is_better"]["ntrex_alignment_si"]["retrieval@1"] is True
    assert alignment["higher_is_better"]["ntrex_alignment_si"]["fusion_weight"] is None   # a weight: neither


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


def test_the_readers_take_both_formats_side_by_side(results_fixture):
    """The fixture holds runs of either format (conftest.write_results_fixture): the leaderboard's records and the
    seeds' paired comparison read them all, and pair an old-format run with a new-format one."""
    from eval.pairing import paired_over_seeds
    from eval.predictions import read_predictions
    from eval.records import load_records

    schemas = {p.parent.name: json.loads(p.read_text())["schema"] for p in results_fixture.rglob("*.json")}
    assert {"tiny-topic-last-s1", "tiny-topic-transformer-softmax", "probe-tiny"} <= \
        {name for name, s in schemas.items() if s == FILE_SCHEMA}
    assert {"tiny-topic-last", "tiny-topic-transformer-softmax-s1"} <= \
        {name for name, s in schemas.items() if s == SCHEMA}
    records = load_records(results_fixture)
    assert set(records["model"]) == set(schemas)
    sib = records[(records["task"] == "sib200") & (records["metric"] == "acc,none")]
    assert set(sib[sib["lang"] == "group:si-ta-bn"]["model"]) >= {"tiny-topic-last-s1", "tiny-topic-last"}
    runs = lambda *names: [read_predictions(results_fixture / n / "sib200.predictions.jsonl")[0] for n in names]
    d = paired_over_seeds(runs("tiny-topic-transformer-softmax", "tiny-topic-transformer-softmax-s1"),
                          runs("tiny-topic-last", "tiny-topic-last-s1"), n_boot=100, n_perm=100)
    assert d["n"] == 90 and d["diff"] > 0                       # the +0.1 of the fixture, items paired by doc_hash


def test_a_malformed_file_is_refused_with_the_reason(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"schema": FILE_SCHEMA, "task": "xnli", "results": {}}))
    with pytest.raises(ValueError, match="malformed"):
        read_results(bad)
    with pytest.raises(ValueError, match="malformed"):
        from_lm_eval({"schema": FILE_SCHEMA, "task": "xnli", "config": {"model_args": {}}, "results": []})
