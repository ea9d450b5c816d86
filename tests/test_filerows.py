"""Big frozen tables read by rows from their safetensors file (fusion.filerows): the same numbers as the mapped
tensor, and the mapped pages left untouched."""
import os

import pytest
import torch
import torch.nn.functional as F

from fusion import backbones, filerows, scoring
from tests.support import present_fraction

linux = pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads /proc/self/maps")


def saved(tmp_path, build, causal_lm, dtype=torch.float32):
    """A tiny backbone written as a safetensors checkpoint and loaded back from that directory."""
    model, tok = build()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return backbones._load_dir(tmp_path, causal_lm=causal_lm, dtype=dtype)[0]


@linux
def test_encoder_embedding_reads_rows_from_the_file_bit_identically(tmp_path):
    enc = saved(tmp_path, backbones.tiny_bert_encoder, causal_lm=False)
    emb = enc.get_input_embeddings()
    assert isinstance(emb, filerows.FileRowsEmbedding) and emb.weight is enc.embeddings.word_embeddings.weight
    ids = torch.randint(0, emb.num_embeddings, (3, 17))
    ids[0, :4] = torch.tensor([0, emb.num_embeddings - 1, 5, 5])  # first, last and repeated rows
    assert torch.equal(emb(ids), F.embedding(ids, emb.weight))
    with torch.no_grad():
        out = enc(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True).hidden_states
    plain = saved(tmp_path / "again", backbones.tiny_bert_encoder, causal_lm=False)
    plain.set_input_embeddings(torch.nn.Embedding.from_pretrained(plain.get_input_embeddings().weight))
    with torch.no_grad():
        ref = plain(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True).hidden_states
    assert all(torch.equal(a, b) for a, b in zip(out, ref))


@linux
def test_llm_head_rows_and_scores_are_bit_identical_to_the_mapped_head(tmp_path):
    llm = saved(tmp_path, backbones.tiny_gemma3, causal_lm=True)
    head = llm.get_output_embeddings()
    assert isinstance(head.file_rows, filerows.FileRows)
    V = head.weight.shape[0]
    assert torch.equal(filerows.head_rows(head, slice(3, V + 50)), head.weight[3:])
    ids = torch.tensor([V - 1, 0, 7, 7])
    assert torch.equal(filerows.head_rows(head, ids), head.weight[ids])
    torch.manual_seed(0)
    embeds, mask = torch.randn(2, 5, llm.config.hidden_size), torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    choices = [[5, 6], [7], [5, 9, 10]]
    assert scoring.fast_head_ok(llm)
    with_rows = scoring.score_choices(llm, embeds, mask, choices)[0], \
        scoring.score_constrained(llm, embeds, mask, [[5, 6], [7], [8, 9, 10]])
    del head.file_rows
    from_map = scoring.score_choices(llm, embeds, mask, choices)[0], \
        scoring.score_constrained(llm, embeds, mask, [[5, 6], [7], [8, 9, 10]])
    assert all(torch.equal(a, b) for a, b in zip(with_rows, from_map))


@linux
def test_rows_are_not_read_from_a_file_the_weight_no_longer_matches(tmp_path):
    llm = saved(tmp_path, backbones.tiny_gemma3, causal_lm=True)
    head = llm.get_output_embeddings()
    with torch.no_grad():
        changed = head.weight.clone() + 1
    head.weight = torch.nn.Parameter(changed, requires_grad=False)  # replaced: rows come from the new tensor
    assert torch.equal(filerows.head_rows(head, slice(0, 4)), changed[:4])
    cast = saved(tmp_path / "cast", backbones.tiny_bert_encoder, causal_lm=False, dtype=torch.bfloat16)
    assert not isinstance(cast.get_input_embeddings(), filerows.FileRowsEmbedding)  # a converted copy, not the file's
