"""Each task's Hub dataset schema mapped onto its fields (tasks.data.load_hub): small files written in that dataset's
own schema (its column names and label encoding) in the Hub dataset's layout (tasks.hub_copy), read back by
`datasets.load_dataset` through the same code as a Hub id. The Hub itself is unreachable here (HF_HUB_OFFLINE=1,
conftest): loading by id and copying fail at once with a message."""
import datasets
import pytest

from fusion.errors import BackboneUnavailableError, DataError
from tasks import ALIGNMENT_TASKS, TASKS, get_task
from tasks.data import load_test
from tasks.hub_copy import local_copy, main as hub_copy_main, write_split

NLI = datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])   # facebook/xnli's label feature
# task -> (test language, the Hub dataset's columns for two rows in its own schema, expected (text, label) pairs)
HUB_ROWS = {
    "xnli": ("hi", datasets.Dataset.from_dict(
        {"premise": ["p one", "p two"], "hypothesis": ["h one", "h two"], "label": [2, 0]},
        features=datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                    "label": NLI})), [("p one", 2), ("p two", 0)]),
    "indicxnli": ("ta", datasets.Dataset.from_dict(
        {"premise": ["p one", "p two"], "hypothesis": ["h one", "h two"], "label": [1, 2]},
        features=datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                    "label": NLI})), [("p one", 1), ("p two", 2)]),
    "sinhala_news": ("si", datasets.Dataset.from_dict({"text": ["a si text", "another"],
                                                        "label": ["Sports", "Business"]}),
                     [("a si text", 3), ("another", 0)]),
    "amazon_reviews": ("ja", datasets.Dataset.from_dict(
        {"id": ["ja_1", "ja_2"], "text": ["bad", "great"], "label": [0, 4], "label_text": ["0", "4"]}),
        [("bad", 0), ("great", 4)]),
    "sib200": ("sin_Sinh", datasets.Dataset.from_dict(
        {"index_id": [7, 9], "category": ["sports", "science/technology"], "text": ["t seven", "t nine"]}),
        [("t seven", 3), ("t nine", 0)]),
}


def write_hub_copy(hub_dir, task, lang, ds):
    write_split(ds, local_copy(hub_dir, task.hub), *task.hub.config_split(lang))


def test_every_task_with_a_hub_dataset_is_covered():
    assert {name for name, t in TASKS.items() if t.hub is not None} == set(HUB_ROWS)
    assert all(t.hub is not None for t in ALIGNMENT_TASKS.values())   # covered in tests/test_eval_alignment.py


@pytest.mark.parametrize("name", sorted(HUB_ROWS))
def test_a_local_copy_in_the_hub_layout_maps_onto_the_task(name, tmp_path):
    task, (lang, ds, expected) = get_task(name), HUB_ROWS[name]
    write_hub_copy(tmp_path, task, lang, ds)
    assert (local_copy(tmp_path, task.hub) / "README.md").read_text().startswith("---\nconfigs:")
    rows = load_test(task, lang, hub_dir=tmp_path)
    text = task.text_fields[0]
    assert [(r[text], r["label"]) for r in rows] == expected
    assert all(r["lang"] == lang and r["id"] for r in rows)
    assert task.prompt(rows[0])                                  # every field the template needs is there


def test_a_classlabel_in_another_order_is_mapped_by_its_names(tmp_path):
    """The label ids of a Hub dataset need not be the task's: the mapping goes through the label names."""
    task = get_task("xnli")
    other = datasets.ClassLabel(names=["contradiction", "entailment", "neutral"])
    ds = datasets.Dataset.from_dict({"premise": ["p", "q", "r"], "hypothesis": ["h", "i", "j"], "label": [0, 1, 2]},
                                    features=datasets.Features({"premise": datasets.Value("string"),
                                                                "hypothesis": datasets.Value("string"),
                                                                "label": other}))
    write_hub_copy(tmp_path, task, "en", ds)
    assert [r["label"] for r in load_test(task, "en", hub_dir=tmp_path)] == [2, 0, 1]


def test_a_copy_holds_several_languages_and_loads_each(tmp_path):
    task = get_task("sib200")
    for lang, cat in (("eng_Latn", "travel"), ("tam_Taml", "health")):
        write_hub_copy(tmp_path, task, lang, datasets.Dataset.from_dict({"index_id": [1], "category": [cat],
                                                                         "text": [f"{lang} text"]}))
    assert [r["label"] for r in load_test(task, "tam_Taml", hub_dir=tmp_path)] == [4]
    assert [r["text"] for r in load_test(task, "eng_Latn", hub_dir=tmp_path)] == ["eng_Latn text"]
    with pytest.raises(DataError, match="ben_Beng"):              # a language the copy lacks
        load_test(task, "ben_Beng", hub_dir=tmp_path)


def test_bad_hub_rows_are_refused_naming_the_row(tmp_path):
    task = get_task("sib200")
    write_hub_copy(tmp_path, task, "eng_Latn", datasets.Dataset.from_dict(
        {"index_id": [1], "category": ["cooking"], "text": ["x"]}))
    with pytest.raises(DataError, match=r"\[0\]: label 'cooking' is not one of the task's labels"):
        load_test(task, "eng_Latn", hub_dir=tmp_path)


def test_no_copy_and_no_hub_fail_at_once_with_what_to_do(tmp_path, capsys):
    with pytest.raises(DataError, match="python -m tasks.hub_copy --task xnli"):
        load_test(get_task("xnli"), "en", hub_dir=tmp_path)
    with pytest.raises(BackboneUnavailableError, match="unreachable"):
        load_test(get_task("xnli"), "en")
    for argv, message in ((["--task", "xnli", "--output", str(tmp_path / "copy"), "--languages", "en"],
                           "error: copying xnli's dataset needs the Hugging Face Hub"),
                          (["--task", "xnli", "--output", str(tmp_path), "--languages", "xx"], "has no language xx")):
        with pytest.raises(SystemExit) as e:
            hub_copy_main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "copy").exists()                      # nothing written


def test_the_copy_command_offline_stops_at_once_with_status_2(tmp_path):
    """The real command line, in a fresh process with HF_HUB_OFFLINE=1: an `error: ...` line, status 2, no files."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "tasks.hub_copy", "--task", "sib200", "--output", str(tmp_path / "c")],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: copying sib200's dataset needs the Hugging Face Hub")
    assert "Traceback" not in proc.stderr and not (tmp_path / "c").exists()


def fake_hub(monkeypatch, asked, fail_on=None):
    """datasets.load_dataset answering as the Hub would for Davlan/sib200 (the Hub is unreachable here)."""
    import fusion.backbones

    def hub(path, config, split, revision):
        asked.append((path, config, split, revision))
        if config == fail_on:
            raise ConnectionError("the connection was reset")
        return datasets.Dataset.from_dict({"index_id": [1, 2], "category": ["travel", "health"],
                                           "text": [f"{config} {split} a", f"{config} {split} b"]})

    monkeypatch.setattr(fusion.backbones, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(datasets, "load_dataset", hub)


def test_the_copy_command_writes_what_the_hub_gives_and_reads_back(tmp_path, monkeypatch, capsys):
    """tasks.hub_copy with the Hub's answer stood in for: the test split of every language asked, at the source's
    revision, written in the Hub layout, loads back through the same code as the Hub id."""
    asked = []
    fake_hub(monkeypatch, asked)
    hub_copy_main(["--task", "sib200", "--output", str(tmp_path), "--languages", "sin_Sinh", "tam_Taml"])
    assert asked == [("Davlan/sib200", "sin_Sinh", "test", "main"), ("Davlan/sib200", "tam_Taml", "test", "main")]
    assert capsys.readouterr().out.count("wrote ") == 2
    monkeypatch.undo()
    task = get_task("sib200")
    assert [(r["text"], r["label"]) for r in load_test(task, "tam_Taml", hub_dir=tmp_path)] == \
        [("tam_Taml test a", 1), ("tam_Taml test b", 4)]


def test_a_download_that_fails_half_way_writes_nothing(tmp_path, monkeypatch, capsys):
    asked = []
    fake_hub(monkeypatch, asked, fail_on="tam_Taml")
    with pytest.raises(SystemExit) as e:
        hub_copy_main(["--task", "sib200", "--output", str(tmp_path / "c"), "--languages", "sin_Sinh", "tam_Taml"])
    assert e.value.code == 2 and len(asked) == 2
    err = capsys.readouterr().err
    assert "could not read Davlan/sib200 (tam_Taml/test)" in err and "nothing was written" in err
    assert not (tmp_path / "c").exists()
