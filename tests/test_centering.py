"""fusion.centering: per-language statistics from unlabeled text, and the bridge reading states moved onto English's."""
import json

import pytest
import torch
import torch.nn.functional as F

from fusion import FusedModel
from fusion.centering import REFERENCE, CenteringStats, LanguageCentering, compute_stats, main, read_texts
from fusion.errors import CheckpointError, DataError

TEXTS = {"eng_Latn": ["the cat sat on the mat", "a short English sentence", "news about the weather today"],
         "sin_Sinh": ["ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම", "තරගය ජයගත්තේය", "කාලගුණය ගැන පුවත්"]}


@pytest.fixture(scope="module")
def tiny():
    return FusedModel.from_preset("tiny", strategy="transformer-softmax", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def stats(tiny):
    return compute_stats(tiny.encoder, tiny.encoder_tokenizer, TEXTS, max_length=64, source="fixture")


def normed_states(model, texts):
    enc = model.encode(texts)
    hidden = torch.stack(model.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                                       output_hidden_states=True).hidden_states).float()   # [L + 1, B, T, D]
    return F.layer_norm(hidden, hidden.shape[-1:]), enc.attention_mask.bool()


def test_moved_states_have_the_english_mean(tiny, stats):
    """On the very sentences the statistics came from, Sinhala states moved by the affine map average to English's
    mean, layer by layer (the definition of the map)."""
    layers = tiny.bridge.layers
    states, keep = normed_states(tiny, TEXTS["sin_Sinh"])
    scale, offset = LanguageCentering(stats).affine(layers, ["si"] * 3, normed=True)
    moved = states[layers] * scale + offset                                             # [L', B, T, D]
    assert torch.allclose(moved[:, keep].mean(1), stats.normed[REFERENCE][0][layers], atol=1e-4)
    # with the spread matched too, the spread becomes English's
    scale, offset = LanguageCentering(stats, scale=True).affine(layers, ["si"] * 3, normed=True)
    moved = (states[layers] * scale + offset)[:, keep]                                 # [L', N, D]
    spread = (moved - moved.mean(1, keepdim=True)).pow(2).mean((1, 2)).sqrt()
    assert torch.allclose(spread, stats.normed[REFERENCE][1][layers], rtol=1e-3)


def test_english_and_unknown_languages_are_left_alone(tiny, stats):
    texts = ["the cat sat on the mat", "a text in no known language"]
    plain = tiny.classify(texts, [" a", " b"])
    centred = FusedModel(tiny.config, tiny.encoder, tiny.encoder_tokenizer, tiny.llm, tiny.llm_tokenizer)
    centred.bridge.load_state_dict(tiny.bridge.state_dict())
    centred.use_centering(LanguageCentering(stats))
    out = centred.classify(texts, [" a", " b"], languages=["en", "xx_Unkn"])
    for a, b in zip(plain, out):
        assert a["probs"] == pytest.approx(b["probs"], abs=1e-6)
    assert [o["centered"] for o in out] == [True, False]
    sinhala = centred.classify([TEXTS["sin_Sinh"][0]], [" a", " b"], languages=["si"])[0]
    assert sinhala["probs"] != pytest.approx(tiny.classify([TEXTS["sin_Sinh"][0]], [" a", " b"])[0]["probs"], abs=1e-6)
    assert "+centered" in centred.name and centred.describe()["centering"]["uses_unlabeled_target_text"]
    with pytest.raises(Exception, match="2 texts but 1 languages"):
        centred.classify(texts, [" a", " b"], languages=["en"])


def test_statistics_round_trip_and_refuse_damage(tmp_path, stats):
    stats.save(tmp_path / "c")
    back = CenteringStats.load(tmp_path / "c")
    assert back.languages() == ["eng_Latn", "sin_Sinh"] and back.sha256() == stats.sha256()
    assert json.loads((tmp_path / "c" / "centering.json").read_text())["sentences"] == {"eng_Latn": 3, "sin_Sinh": 3}
    (tmp_path / "d").mkdir()
    with pytest.raises(CheckpointError, match="not a centering statistics directory"):
        CenteringStats.load(tmp_path / "d")
    (tmp_path / "c" / "centering.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="damaged"):
        CenteringStats.load(tmp_path / "c")


def test_unlabeled_text_sources(tmp_path):
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "si.txt").write_text("පළමු වාක්‍යය\n\nදෙවන වාක්‍යය\n", encoding="utf-8")
    assert read_texts(folder) == {"si": ["පළමු වාක්‍යය", "දෙවන වාක්‍යය"]}
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"lang": "sin_Sinh", "text": "x", "label": 3}) + "\n", encoding="utf-8")
    assert read_texts(rows) == {"sin_Sinh": ["x"]}
    parallel = tmp_path / "par.jsonl"
    parallel.write_text(json.dumps({"id": 1, "en": "a", "si": "b"}) + "\n", encoding="utf-8")
    assert read_texts(parallel, columns=["en", "si"]) == {"en": ["a"], "si": ["b"]}
    with pytest.raises(DataError, match="no column 'ta'"):
        read_texts(parallel, columns=["ta"])
    with pytest.raises(DataError, match="neither a folder"):
        read_texts(tmp_path / "missing")


def test_the_command_needs_english(tmp_path, capsys):
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "si.txt").write_text("පළමු වාක්‍යය\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main([str(folder), str(tmp_path / "out"), "--preset", "tiny"])
    assert e.value.code == 2 and "no English" in capsys.readouterr().err
    (folder / "en.txt").write_text("an English sentence\n", encoding="utf-8")
    main([str(folder), str(tmp_path / "out"), "--preset", "tiny"])
    assert CenteringStats.load(tmp_path / "out").languages() == ["eng_Latn", "sin_Sinh"]


def test_centred_names_keep_the_seed_suffix_last():
    from fusion.centering import centered_name
    assert centered_name("pocket-topic-last-s1") == "pocket-topic-last+centered-s1"
    assert centered_name("pocket-topic-last") == "pocket-topic-last+centered"
    assert centered_name(centered_name("probe-pocket")) == "probe-pocket+centered"


def test_text_tokens_only_leaves_the_prompt_template_and_special_tokens_where_they_were(tiny, stats):
    """tokens="text": only the tokens inside the example's own text (Task.field_spans) move; the English template's
    words ("Topic:", "Category:") and the special tokens keep their states, so a template-only prompt is unchanged."""
    from fusion.centering import TextLanguage
    from tasks import get_task
    task = get_task("sib200")
    row = {"text": TEXTS["sin_Sinh"][0]}
    prompt, spans = task.prompt(row), task.field_spans(row)
    assert [prompt[s:e] for s, e in spans] == [row["text"]]
    two = get_task("xnli")
    pair = {"premise": " a premise ", "hypothesis": "its hypothesis"}
    assert [two.prompt(pair)[s:e] for s, e in two.field_spans(pair)] == ["a premise", "its hypothesis"]

    text_only = LanguageCentering(stats, tokens="text")
    enc = tiny.encode([prompt])
    mask = text_only.token_mask([TextLanguage("si", spans)], enc.offsets)[0]
    pieces = tiny.encoder_tokenizer.convert_ids_to_tokens(enc.input_ids[0])
    moved = "".join(p for p, m in zip(pieces, mask) if m)
    kept = [p for p, m in zip(pieces, mask) if not m]
    assert "Topic" not in moved and "Category" not in moved and moved        # only the Sinhala text's pieces
    assert pieces[0] in kept and pieces[-1] in kept                          # the special tokens
    assert LanguageCentering(stats).token_mask([TextLanguage("si", spans)], enc.offsets) is None   # "all"

    def model(centering):
        m = FusedModel(tiny.config, tiny.encoder, tiny.encoder_tokenizer, tiny.llm, tiny.llm_tokenizer)
        m.bridge.load_state_dict(tiny.bridge.state_dict())
        return m.use_centering(centering)
    plain, every, text = model(None), model(LanguageCentering(stats)), model(text_only)
    lang = [TextLanguage("si", spans)]
    p, a, t = (m.soft_prompt([prompt], lang if m.centering else None).embeds for m in (plain, every, text))
    template = [i for i, m in enumerate(mask.tolist()) if not m]               # encoder positions left alone
    # soft prompt = [BOS; mapped tokens; boundary]: encoder token i sits at i + 1 (a single text: no left pad)
    for i in template:
        assert torch.allclose(t[0, i + 1], p[0, i + 1], atol=1e-5)
        assert not torch.allclose(a[0, i + 1], p[0, i + 1], atol=1e-5)
    assert text.name.endswith("+centered-text") and text.describe()["centering"]["tokens"] == "text"
    assert "tokens" not in every.describe()["centering"]                      # the runs before the choice keep theirs
    with pytest.raises(Exception, match="centering tokens must be one of all, text"):
        LanguageCentering(stats, tokens="some")


def test_the_two_centering_variants_are_strategies_of_their_own():
    from eval.records import centering_tag
    from eval.seeds import own_baseline
    assert centering_tag(None) == "" and centering_tag({"scale": False}) == "+centered"
    assert centering_tag({"tokens": "text"}) == "+centered (text tokens)"
    assert own_baseline("global-softmax +centered (text tokens)") == own_baseline("global-softmax +centered") \
        == "global-softmax"
