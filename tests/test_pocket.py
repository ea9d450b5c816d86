"""The offline pocket preset on its real weights (multilingual-e5-small 4-bit dequantized + Gemma-3-270M)."""
import json
import os
import re

import pytest
import torch

from fusion import FusedModel, PlainLLM

pytestmark = pytest.mark.pocket


def ntrex(benchdata, n=50):
    rows = [json.loads(line) for line in open(benchdata / "ntrex128" / "parallel.jsonl", encoding="utf-8")]
    return rows[:n]


def test_pocket_loads_offline(pocket_model):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert pocket_model.config.num_encoder_layers == 12 and pocket_model.config.encoder_hidden_size == 384
    assert pocket_model.config.llm_hidden_size == 640
    assert pocket_model.llm.config.num_hidden_layers == 18
    from fusion.scoring import fast_head_ok
    assert fast_head_ok(pocket_model.llm)  # Gemma's head is reproduced: classify takes the shared-prefix path


@pytest.mark.parametrize("lang", ["si", "ta", "bn"])
def test_encoder_aligns_english_with_low_resource_languages(pocket_model, benchdata, lang):
    rows = ntrex(benchdata, 50)
    en = pocket_model.pooled_states([r["en"] for r in rows])["layers"][-1]
    xx = pocket_model.pooled_states([r[lang] for r in rows])["layers"][-1]
    sim = torch.nn.functional.normalize(en, dim=-1) @ torch.nn.functional.normalize(xx, dim=-1).T
    acc = (sim.argmax(1) == torch.arange(len(rows))).float().mean().item()
    assert acc >= 0.9, f"en->{lang} retrieval@1 {acc:.2f}"


def test_gemma_continues_english_in_english(pocket_model):
    plain = PlainLLM(pocket_model.llm, pocket_model.llm_tokenizer, "gemma")
    text = plain.generate(["The capital of France is a city where"], max_new_tokens=24)[0]
    words = re.findall(r"[A-Za-z]+", text)
    assert len(words) >= 8, text
    latin = sum(ch.isascii() for ch in text if not ch.isspace()) / max(1, sum(not ch.isspace() for ch in text))
    assert latin > 0.95, text
    common = {"the", "a", "of", "and", "is", "in", "to", "it", "that", "with", "for", "was", "are"}
    assert common & {w.lower() for w in words}, text


def test_fused_pocket_classifies_sinhala_end_to_end(pocket_model):
    labels = [" Business", " Entertainment", " Political", " Sports", " Science"]
    out = pocket_model.classify(["News Sentence: ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම තරගය ජයගත්තේය Category:"], labels)[0]
    assert out["label"] in labels
    assert sum(out["probs"]) == pytest.approx(1.0, abs=1e-5)
    assert len(out["layer_weights"]) == 12 and sum(out["layer_weights"]) == pytest.approx(1.0, abs=1e-5)
    assert out["tokens"][0] == "<s>" and any("ක" in t for t in out["tokens"])
    assert all(torch.isfinite(torch.tensor(out["loglik"])))


def test_pocket_bfloat16_loads_the_cast_weights_mapped_from_its_own_cache():
    """The bfloat16 backbones come from a cached bfloat16 copy (fusion.pocket.in_dtype), bit for bit the float32
    weights cast, and stay mapped from that file rather than copied into the process's memory."""
    from fusion import backbones, pocket

    for name, causal, checkpoint in ((pocket.E5_NAME, False, pocket.e5_checkpoint),
                                     (pocket.GEMMA_NAME, True, pocket.gemma_checkpoint)):
        load = backbones.load_llm if causal else backbones.load_encoder
        bf16, _ = load(name, "cpu", torch.bfloat16)
        assert checkpoint(torch.bfloat16) == pocket.cache_dir() / f"{name}-bfloat16"
        fp32, _ = backbones._load_dir(checkpoint(), causal, torch.float32)
        cast = dict(fp32.to(torch.bfloat16).named_parameters())
        for key, p in bf16.named_parameters():
            if key.startswith("pooler."):  # BERT's unused pooler is not in the checkpoint: random on every load
                continue
            assert p.dtype == torch.bfloat16 and torch.equal(p, cast[key]), key
        if os.path.exists("/proc/self/maps"):  # Linux: the embedding's storage lies in the file's mapping
            file = str(checkpoint(torch.bfloat16) / "model.safetensors")
            spans = [[int(x, 16) for x in line.split()[0].split("-")]
                     for line in open("/proc/self/maps") if line.rstrip().endswith(file)]
            address = bf16.get_input_embeddings().weight.data_ptr()
            assert any(lo <= address < hi for lo, hi in spans), f"{name}'s embedding is not mapped from {file}"


def test_pocket_classify_pages_in_neither_big_table():
    """e5's 250k-row word embedding and Gemma's 262k-row head are read by rows from their files (fusion.filerows)
    and fast_head_ok reads 1024 head rows: classifying multilingual text leaves (almost) none of their pages mapped
    in the process (RSS). A model of its own: the session's float32 one ran Gemma's whole head (generate)."""
    from fusion import filerows
    from tests.support import present_fraction

    model = FusedModel.from_preset("pocket", strategy="last", device="cpu", dtype="bfloat16")
    table = model.encoder.get_input_embeddings()
    head = model.llm.get_output_embeddings()
    assert isinstance(table, filerows.FileRowsEmbedding) and head.file_rows.backs(head.weight)
    texts = ["News Sentence: ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම තරගය ජයගත්තේය Category:",
             "இந்திய அணி இறுதிப் போட்டியில் வென்றது", "বাংলাদেশের অর্থনীতি দ্রুত বাড়ছে", "上海的天气很好",
             "The committee approved the new budget on Tuesday."]
    labels = [" Business", " Entertainment", " Political", " Sports", " Science"]
    for scoring in ("loglik", "constrained"):
        model.classify(texts, labels, scoring=scoring)
    # a few 2 MB folios of Gemma's table hold the BOS and label tokens' input embeddings; none of e5's is touched
    assert present_fraction(table.weight) < 0.01 and present_fraction(head.weight) < 0.05
