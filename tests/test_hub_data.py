"""Each task's Hub dataset schema mapped onto its fields (tasks.data.load_hub): small files written in that dataset's
own schema (its column names and label encoding) in the Hub dataset's layout (tasks.hub_copy), read back by
`datasets.load_dataset` through the same code as a Hub id. The Hub itself is unreachable here (HF_HUB_OFFLINE=1,
conftest): loading by id and copying fail at once with a message."""
import datasets
import pytest

from fusion.errors import BackboneUnavailableError, DataError
from tasks import TASKS, get_task
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
    assert hub_copy_main(["--task", "xnli", "--output", str(tmp_path / "copy"), "--languages", "en"]) == 2
    assert "error: copying xnli's datasets needs the Hugging Face Hub" in capsys.readouterr().err
    assert not (tmp_path / "copy").exists()                      # nothing written
    assert hub_copy_main(["--task", "xnli", "--output", str(tmp_path), "--languages", "xx"]) == 2
    assert "has no language xx" in capsys.readouterr().err


def test_the_copy_command_writes_what_the_hub_gives_and_reads_back(tmp_path, monkeypatch, capsys):
    """tasks.hub_copy with the Hub's answer stood in for (the Hub is unreachable here): every split the task reads
    (test per language asked, English train) at the source's revision, written in the Hub layout, loads back."""
    import fusion.backbones

    asked = []

    def hub(path, config, split, revision):
        asked.append((path, config, split, revision))
        return datasets.Dataset.from_dict({"index_id": [1, 2], "category": ["travel", "health"],
                                           "text": [f"{config} {split} a", f"{config} {split} b"]})

    monkeypatch.setattr(fusion.backbones, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert hub_copy_main(["--task", "sib200", "--output", str(tmp_path), "--languages", "sin_Sinh", "tam_Taml"]) == 0
    assert asked == [("Davlan/sib200", "sin_Sinh", "test", "main"), ("Davlan/sib200", "tam_Taml", "test", "main"),
                     ("Davlan/sib200", "eng_Latn", "train", "main")]
    assert capsys.readouterr().out.count("wrote ") == 3
    monkeypatch.undo()
    task = get_task("sib200")
    assert [(r["text"], r["label"]) for r in load_test(task, "tam_Taml", hub_dir=tmp_path)] == \
        [("tam_Taml test a", 1), ("tam_Taml test b", 4)]
