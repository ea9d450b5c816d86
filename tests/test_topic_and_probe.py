"""SIB-200 topic task (open FLORES languages, group averages) and the encoder-alone probe baseline."""
import json

import pytest
import torch

from tasks.data import available_languages, load_test
from eval.runner import evaluate
from tasks import get_task
from fusion import CheckpointError, ConfigError, DataError, EncoderProbe, InputError, load_model

TASK = get_task("topic")


def test_sib200_loads_the_shared_files(benchdata):
    assert TASK.name == "sib200" and len(TASK.choices) == 7
    rows = load_test(TASK, "sin_Sinh", data_dir=benchdata)
    assert len(rows) == 204 and all(r["lang"] == "sin_Sinh" for r in rows)
    assert TASK.prompt(rows[0]).startswith("Topic: ") and TASK.prompt(rows[0]).endswith(" Category:")
    assert {"eng_Latn", "tam_Taml", "ben_Beng", "mal_Mlym"} <= set(available_languages(TASK, benchdata))
    # the same sentences in every language (index_id), the same labels
    en = {r["index_id"]: r["label"] for r in load_test(TASK, "eng_Latn", data_dir=benchdata)}
    assert {r["index_id"]: r["label"] for r in rows} == en


def test_unknown_language_names_the_languages_there_are(benchdata):
    with pytest.raises(DataError, match="no language 'xx_Yyyy'.*sin_Sinh"):
        evaluate("tiny", "sib200", languages=["xx_Yyyy"], data_dir=benchdata, progress=False)
    with pytest.raises(DataError, match="has no language 'fij_Latn'"):
        load_test(TASK, "fij_Latn")  # without --data-dir only the declared languages exist


def sib_file(tmp_path, langs=("fij_Latn", "eng_Latn"), per_label=2):
    d = tmp_path / "data" / "sib200"
    d.mkdir(parents=True)
    rows = [{"id": f"{lang}-{i}-{k}", "index_id": i * 10 + k, "lang": lang, "text": f"sentence {i} {k} in {lang}",
             "label": i, "label_text": "x"} for lang in langs for i in range(7) for k in range(per_label)]
    (d / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return tmp_path / "data"


def test_any_flores_language_in_a_users_file(tmp_path):
    data = sib_file(tmp_path)
    assert available_languages(TASK, data) == ["eng_Latn", "fij_Latn"]  # declared order first, then the others
    r = evaluate("tiny", "sib200", data_dir=data, bootstrap=20, progress=False)
    assert set(r["config"]["languages"]) == {"eng_Latn", "fij_Latn"} and r["results"]["fij_Latn"]["n"] == 14
    assert r["config"]["precision"] == "float32"
    with pytest.raises(DataError, match="no examples for language 'swh_Latn'.*fij_Latn"):
        load_test(TASK, "swh_Latn", data_dir=data)


def test_group_averages_are_means_of_their_languages(tmp_path):
    data = sib_file(tmp_path, langs=("eng_Latn", "sin_Sinh", "tam_Taml"))
    r = evaluate("tiny", "sib200", data_dir=data, bootstrap=50, progress=False)["results"]
    group = r["group:si-ta-bn"]
    assert group["languages"] == ["sin_Sinh", "tam_Taml"]  # bn is absent from this file
    assert group["acc,none"] == pytest.approx((r["sin_Sinh"]["acc,none"] + r["tam_Taml"]["acc,none"]) / 2)
    assert group["acc_ci95,none"][0] <= group["acc,none"] <= group["acc_ci95,none"][1]
    assert "group:low-resource" in r and "eng_Latn" not in r["group:low-resource"]["languages"]


# ---------------------------------------------------------------- the probe

TEXTS = [f"{w} text number {i}" for i in range(6) for w in ("alpha", "beta", "gamma")]
LABELS = [i % 3 for i in range(len(TEXTS))]
CHOICES = [" A", " B", " C"]


@pytest.fixture(scope="module")
def probe():
    p = EncoderProbe.from_preset("tiny", device="cpu", dtype="float32")
    record = p.fit(TEXTS, LABELS, TEXTS[:6], LABELS[:6], CHOICES)
    assert record["C"] in (0.01, 0.1, 1.0, 10.0, 100.0) and 0 <= record["dev_accuracy"] <= 1
    return p


def test_probe_save_load_round_trip_without_pickle(probe, tmp_path):
    probe.save_pretrained(tmp_path / "p")
    assert sorted(f.name for f in (tmp_path / "p").iterdir()) == ["probe.safetensors", "probe_config.json"]
    loaded = load_model(str(tmp_path / "p"), device="cpu", dtype="float32")
    assert isinstance(loaded, EncoderProbe) and loaded.config.C == probe.config.C
    a, b = probe.classify(TEXTS, CHOICES), loaded.classify(TEXTS, CHOICES)
    assert [x["probs"] for x in a] == [x["probs"] for x in b]
    assert all(abs(sum(x["probs"]) - 1) < 1e-5 for x in a)
    # the choices may come in another order: the probabilities follow them
    swapped = loaded.classify(TEXTS[:2], [" C", " A", " B"])
    assert swapped[0]["probs"] == pytest.approx([a[0]["probs"][2], a[0]["probs"][0], a[0]["probs"][1]])


def test_probe_learns_separable_labels():
    p = EncoderProbe.from_preset("tiny", device="cpu", dtype="float32")
    p.fit(TEXTS, LABELS, TEXTS, LABELS, CHOICES, grid=(100.0,))
    preds = [o["pred"] for o in p.classify(TEXTS, CHOICES)]
    assert sum(x == y for x, y in zip(preds, LABELS)) / len(LABELS) > 0.8


def test_probe_bad_input_and_damaged_files(probe, tmp_path):
    with pytest.raises(InputError, match="trained on the labels A, B, C"):
        probe.classify(["x"], [" yes", " no"])
    with pytest.raises(InputError, match="empty"):
        probe.classify([" "], CHOICES)
    probe.save_pretrained(tmp_path / "p")
    (tmp_path / "p" / "probe.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="safetensors"):
        EncoderProbe.from_pretrained(tmp_path / "p")
    with pytest.raises(CheckpointError, match="not a probe directory"):
        EncoderProbe.from_pretrained(tmp_path)
    with pytest.raises(InputError, match="every label"):
        EncoderProbe.from_preset("tiny", device="cpu").fit(TEXTS[:2], [0, 1], TEXTS[:2], [0, 1], CHOICES)


def test_probe_evaluates_through_the_harness(probe, tmp_path):
    data = sib_file(tmp_path)
    topic = EncoderProbe.from_preset("tiny", device="cpu", dtype="float32")
    rows = load_test(TASK, "eng_Latn", data_dir=data)
    topic.fit([TASK.prompt(r) for r in rows], [r["label"] for r in rows], [TASK.prompt(r) for r in rows[:7]],
              [r["label"] for r in rows[:7]], TASK.targets)
    topic.save_pretrained(tmp_path / "probe-tiny-topic")
    r = evaluate(str(tmp_path / "probe-tiny-topic"), "sib200", data_dir=data, output_dir=tmp_path / "out",
                 bootstrap=10, progress=False)
    assert r["model"]["kind"] == "probe" and r["model"]["name"] == "probe-tiny" and r["model"]["llm"] is None
    assert r["results"]["eng_Latn"]["n"] == 14
    preds = (tmp_path / "out" / "probe-tiny" / "sib200.predictions.jsonl").read_text().splitlines()
    assert len(preds) == 28 and all(json.loads(p)["scoring"] == "loglik" for p in preds)
    with pytest.raises(ConfigError, match="cannot generate"):
        evaluate(str(tmp_path / "probe-tiny-topic"), "sib200", data_dir=data, scoring="generate", progress=False)


def test_probe_trains_on_sentence_chunks_and_keeps_its_own_results_name(benchdata, tmp_path):
    # the encoder-alone baseline of a sentence-trained bridge: the same rows as training.train --sentence-chunks
    from training.args import TrainArgs
    from training.data import prepare_data
    from training.train_probe import train_probe
    out = tmp_path / "probe-tiny-news-sent"
    summary = train_probe("tiny", "news", out, data_dir=str(benchdata), max_train_examples=20, precision="float32",
                          sentence_chunks=1)
    _, dev = prepare_data(TrainArgs(task="news", data_dir=str(benchdata), max_train_examples=20, sentence_chunks=1),
                          get_task("news"))
    assert summary["train_variant"] == "sentences<=1" and summary["train_examples"] == 20
    assert summary["dev_examples"] == len(dev) > 149          # sentences of the 149 held-out articles
    assert "sentences<=1" in (out / "README.md").read_text()
    assert load_model(str(out), device="cpu", dtype="float32").describe()["name"] == "probe-tiny-sent"
    renamed = tmp_path / "probe-tiny-news"   # who a probe is comes from its files, not its folder's name
    out.rename(renamed)
    assert load_model(str(renamed), device="cpu", dtype="float32").describe()["name"] == "probe-tiny-sent"
