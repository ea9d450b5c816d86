"""The cross-lingual alignment task: retrieval@1 per encoder layer and for the fused representation."""
import json

import pytest
import torch
import torch.nn.functional as F

from eval.__main__ import main
from eval.results import read_results
from eval.runner import evaluate
from fusion import PlainLLM
from tests.conftest import tiny

LANGS = ("si", "ta", "bn", "hi", "ml")


def write_parallel(data_dir, n=6, rows=None):
    if rows is None:
        rows = []
        for i in range(n):
            en = f"Sentence number {i} is about {'cats dogs birds fish trees rivers'.split()[i % 6]} and more."
            rows.append({"id": f"p-{i}", "en": en,
                         "si": en,                                  # identical to English: retrieval must be exact
                         "ta": f"தமிழ் வாக்கியம் {i}", "bn": f"বাংলা বাক্য {i}", "hi": f"हिंदी वाक्य {i}",
                         "ml": f"മലയാളം വാക്യം {i}"})
    f = data_dir / "ntrex128" / "parallel.jsonl"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return rows


@pytest.fixture(scope="module")
def model():
    return tiny("global-softmax")


def test_alignment_per_layer_and_fused(model, tmp_path):
    rows = write_parallel(tmp_path)
    r = evaluate(model, "ntrex_alignment", data_dir=tmp_path, output_dir=tmp_path / "out", model_name="tiny-gs",
                 progress=False, batch_size=4)
    assert read_results(tmp_path / "out" / "tiny-gs" / "ntrex_alignment.json") == r
    L = model.config.num_encoder_layers
    expected = ({f"retrieval@1,layer_{i}" for i in range(L + 1)} | {"retrieval@1,fused", "n"}
                | {f"fusion_weight,layer_{i}" for i in range(1, L + 1)})
    assert set(r["results"]) == {*LANGS, "average", "en"}
    assert set(r["results"]["en"]) == {f"fusion_weight,layer_{i}" for i in range(1, L + 1)} | {"n"}
    for lang in LANGS:
        assert set(r["results"][lang]) == expected and r["results"][lang]["n"] == 6
        assert all(0 <= v <= 1 for k, v in r["results"][lang].items() if k != "n")
        mix = [r["results"][lang][f"fusion_weight,layer_{i}"] for i in range(1, L + 1)]
        assert sum(mix) == pytest.approx(1.0, abs=1e-3)                   # a mix over the fused layers
    assert all(v == 1.0 for k, v in r["results"]["si"].items() if k.startswith("retrieval@1"))   # a copy of English

    # one layer recomputed independently
    en = model.pooled_states([x["en"] for x in rows])["layers"][2]
    ta = model.pooled_states([x["ta"] for x in rows])["layers"][2]
    sim = F.normalize(en, dim=-1) @ F.normalize(ta, dim=-1).T
    assert r["results"]["ta"]["retrieval@1,layer_2"] == pytest.approx((sim.argmax(1) == torch.arange(6)).float().mean().item())
    avg = r["results"]["average"]["retrieval@1,fused"]
    assert avg == pytest.approx(sum(r["results"][l]["retrieval@1,fused"] for l in LANGS) / 5)
    preds = [json.loads(l) for l in (tmp_path / "out" / "tiny-gs" / "ntrex_alignment.predictions.jsonl").open()]
    assert len(preds) == 6 * 5 and all(p["retrieved"]["fused"] == p["id"] for p in preds if p["lang"] == "si")


def test_alignment_records_the_fusion_s_layer_mix(tmp_path):
    """The mix recorded is the one the fusion computes (global softmax: one mix for every token), in every language."""
    gs = tiny("global-softmax")
    with torch.no_grad():
        gs.bridge.fusion.layer_logits.copy_(torch.arange(gs.config.num_encoder_layers, dtype=torch.float32))
    write_parallel(tmp_path)
    r = evaluate(gs, "ntrex_alignment", data_dir=tmp_path, progress=False, batch_size=4)
    mix = gs.bridge.fusion.layer_weights().tolist()
    assert mix[-1] > 2 * mix[0]                                            # not the uniform mix of a fresh bridge
    for lang in (*LANGS, "en"):
        got = [r["results"][lang][f"fusion_weight,layer_{i}"] for i in gs.config.fused_layers()]
        assert got == pytest.approx(mix, abs=2e-2)                         # bfloat16 bridge maths where auto picks it


def test_alignment_cli_with_limit_and_languages(tmp_path, capsys):
    write_parallel(tmp_path, n=8)
    main(["run", "--model", "tiny", "--task", "ntrex_alignment", "--languages", "si", "hi", "--limit", "5",
          "--data-dir", str(tmp_path), "--output", str(tmp_path / "out"), "--no-progress"])
    r = read_results(tmp_path / "out" / "tiny" / "ntrex_alignment.json")
    assert set(r["results"]) == {"si", "hi", "average", "en"} and r["results"]["hi"]["n"] == 5
    assert "first 5 of 8" in r["sample_note"]
    out = capsys.readouterr().out
    assert "retrieval@1 fused" in out and "en       (source)  fusion's heaviest layer" in out


def test_alignment_reads_the_hub_dataset_like_the_shared_file(model, tmp_path):
    """ntrex_alignment's Hub dataset (mteb/NTREX's schema: a row per sentence, a column per language in FLORES codes,
    more languages than ours, no id) from a local copy in the Hub layout (--hub-dir) scores exactly as the same
    sentences from --data-dir; without --data-dir or a copy it needs the Hub, and says so at once."""
    import datasets

    from fusion.errors import BackboneUnavailableError
    from tasks import ALIGNMENT_TASKS
    from tasks.hub_copy import local_copy, write_split

    rows = write_parallel(tmp_path / "shared")
    task = ALIGNMENT_TASKS["ntrex_alignment"]
    columns = {"eng_Latn": "en", "sin_Sinh": "si", "tam_Taml": "ta", "ben_Beng": "bn", "hin_Deva": "hi",
               "mal_Mlym": "ml"}
    table = {flores: [r[ours] for r in rows] for flores, ours in columns.items()} | {"fra_Latn": ["x"] * len(rows)}
    write_split(datasets.Dataset.from_dict(table), local_copy(tmp_path / "hub", task.hub), "default", "test")
    shared = evaluate(model, "ntrex_alignment", data_dir=tmp_path / "shared", progress=False, batch_size=4)
    hub = evaluate(model, "ntrex_alignment", hub_dir=tmp_path / "hub", output_dir=tmp_path / "out",
                   model_name="tiny-gs", progress=False, batch_size=4)
    assert hub["results"] == shared["results"] and hub["n_samples"] == shared["n_samples"]
    assert hub["config"]["data_source"] == "hub:mteb/NTREX@main" and hub["config"]["hub_dir"] == str(tmp_path / "hub")
    assert f"parallel sentences in a local copy (in {tmp_path / 'hub'}) of the hub (mteb/NTREX" in hub["sample_note"]
    lines = [json.loads(l) for l in (tmp_path / "out" / "tiny-gs" / "ntrex_alignment.predictions.jsonl").open()]
    assert [p["id"] for p in lines if p["lang"] == "si"] == [f"ntrex_alignment-{i}" for i in range(len(rows))]
    with pytest.raises(BackboneUnavailableError, match="mteb/NTREX .*needs the Hugging Face hub"):
        evaluate(model, "ntrex_alignment", progress=False)


def test_alignment_needs_a_fused_model(model, tmp_path):
    write_parallel(tmp_path)
    from fusion.errors import ConfigError
    plain = PlainLLM(model.llm, model.llm_tokenizer, "tiny-gemma3")
    with pytest.raises(ConfigError, match="needs a fused model"):
        evaluate(plain, "ntrex_alignment", data_dir=tmp_path, progress=False)


@pytest.mark.parametrize("content,message", [
    ('{"id": "a", "en": "x", "si": "y", "ta": "z", "bn": "b", "hi": "h"}\n', "missing field(s) ml"),
    ('{"id": "a", "en": "x", "si": "", "ta": "z", "bn": "b", "hi": "h", "ml": "m"}\n', "field 'si' is empty"),
    ("", "retrieval needs at least 2"),
    (b'{"id": "a", "en": "caf\xe9"}\n', "not UTF-8"),
])
def test_bad_parallel_files(tmp_path, capsys, content, message):
    f = tmp_path / "ntrex128" / "parallel.jsonl"
    f.parent.mkdir()
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SystemExit) as e:
        main(["run", "--model", "tiny", "--task", "ntrex_alignment", "--data-dir", str(tmp_path),
              "--output", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


@pytest.mark.pocket
def test_pocket_alignment_on_real_ntrex(pocket_model, benchdata):
    r = evaluate(pocket_model, "ntrex_alignment", languages=["si"], data_dir=benchdata, limit=50, progress=False)
    si = r["results"]["si"]
    assert {f"retrieval@1,layer_{i}" for i in range(13)} | {"retrieval@1,fused"} <= set(si)
    assert "retrieval@1,layer_13" not in si and si["n"] == 50
    assert si["retrieval@1,layer_12"] >= 0.9, si
    assert si["retrieval@1,layer_0"] < si["retrieval@1,layer_12"]   # embeddings alone align far less
