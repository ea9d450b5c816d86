"""Per-language centering of the frozen encoder's states (Libovický et al. 2020; Zhao et al. 2021).

A multilingual encoder places each language around a mean vector of its own; part of what a bridge trained on English
fails to read in Sinhala is that offset. Centering moves a text's states from its language's mean (and, optionally,
spread) onto English's, per encoder layer, before the bridge reads them:

    h'_l = (h_l - mu_l[lang]) * s_l[en] / s_l[lang] + mu_l[en]          (scale optional; else s = 1)

Trained on English states, the bridge is unchanged by this for English (h' = h); a bridge trained on English states
centred on the English mean, then read with each test language's own mean, is the same model up to a constant that
its first linear layer absorbs, so the shipped bridges need no retraining.

The statistics come from UNLABELED text in each language (a folder of <lang>.txt files of plain sentences, or the text
column of a JSON Lines file): never labels, never the test items. Using them means the model no longer learns from
English alone: results, model cards and the leaderboard say "uses unlabeled target-language text".

Files (a statistics directory):
    centering.safetensors   "<lang>.mean" [L + 1, D] and "<lang>.spread" [L + 1], for the states as the bridge reads
                            them (parameter-free LayerNorm per layer; "raw.<lang>.*" for the raw states, as the
                            encoder-alone probe reads its last layer)
    centering.json          encoder, sentences and tokens per language, the source, the layer-norm flag
"""
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .errors import CheckpointError, ConfigError, DataError
from .files import iter_jsonl

STATS_FILE, META_FILE = "centering.safetensors", "centering.json"
REFERENCE = "eng_Latn"
# ISO 639-1 codes (the app's script detection, NTREX-128's columns) -> the FLORES codes the benchmarks use
FLORES = {"en": "eng_Latn", "si": "sin_Sinh", "ta": "tam_Taml", "bn": "ben_Beng", "hi": "hin_Deva", "ml": "mal_Mlym",
          "te": "tel_Telu", "ne": "npi_Deva", "ur": "urd_Arab", "mr": "mar_Deva", "gu": "guj_Gujr", "kn": "kan_Knda",
          "pa": "pan_Guru", "sw": "swh_Latn", "am": "amh_Ethi", "zh": "zho_Hans", "ar": "arb_Arab", "fr": "fra_Latn",
          "de": "deu_Latn", "es": "spa_Latn", "ru": "rus_Cyrl", "th": "tha_Thai", "vi": "vie_Latn", "tr": "tur_Latn",
          "el": "ell_Grek", "bg": "bul_Cyrl", "ja": "jpn_Jpan", "id": "ind_Latn"}


TOKENS = ("all", "text")   # which encoder tokens centering moves: all of them, or only the input text's (see below)


def centered_name(name: str, tokens: str = "all") -> str:
    """The name of a model that uses centering: "+centered" ("+centered-text" where only the input text's tokens
    are moved) before a seed suffix ("pocket-topic-last-s1" -> "pocket-topic-last+centered-s1"), so that its seeds
    still group together, apart from the English-only runs."""
    if "+centered" in name:
        return name
    tag = "+centered" if tokens == "all" else f"+centered-{tokens}"
    return re.sub(r"(-s\d+)?$", lambda m: tag + (m.group(1) or ""), name, count=1)


@dataclass(frozen=True)
class TextLanguage:
    """A text's language for centering, and the character spans of the text written in it: the input's own text
    inside an English prompt template ("Topic: {text} Category:"). No spans: the whole text."""
    code: str | None
    spans: tuple = ()                                 # ((start, end), ...) character offsets into the text


def code_of(lang) -> str | None:
    """A language code from a code or a TextLanguage."""
    return lang.code if isinstance(lang, TextLanguage) else lang


def language_key(code: str) -> str:
    """The FLORES code of `code` ("si" -> "sin_Sinh"); FLORES codes and unknown codes are returned as given."""
    return FLORES.get(code, code)


@dataclass
class CenteringStats:
    """Per language: the mean [L + 1, D] and spread [L + 1] of every hidden state (index 0 = embeddings) over all
    tokens of its sentences, for layer-normed states ("normed") and raw ones ("raw")."""
    normed: dict = field(default_factory=dict)        # lang -> (mean [L + 1, D], spread [L + 1])
    raw: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)          # encoder, sentences/tokens per language, source

    def languages(self) -> list[str]:
        return sorted(self.normed)

    def save(self, path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for prefix, table in (("", self.normed), ("raw.", self.raw)):
            for lang, (mean, spread) in table.items():
                tensors[f"{prefix}{lang}.mean"], tensors[f"{prefix}{lang}.spread"] = mean.contiguous(), spread.contiguous()
        save_file(tensors, str(path / STATS_FILE), metadata={"format": "pt"})
        (path / META_FILE).write_text(json.dumps(self.meta, indent=1, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path) -> "CenteringStats":
        path = Path(path).expanduser()
        if not (path / STATS_FILE).is_file() or not (path / META_FILE).is_file():
            raise CheckpointError(f"{path} is not a centering statistics directory: it needs {STATS_FILE} and "
                                  f"{META_FILE} (written by `python -m fusion.centering`)")
        try:
            tensors = load_file(str(path / STATS_FILE))
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except Exception as e:  # safetensors raises its own error types for damaged files
            raise CheckpointError(f"{path} holds damaged centering statistics: {e}") from e
        stats = cls(meta=meta)
        for key, mean in tensors.items():
            if key.endswith(".mean"):
                name = key[:-len(".mean")]
                table = stats.raw if name.startswith("raw.") else stats.normed
                table[name.removeprefix("raw.")] = (mean.float(), tensors[f"{name}.spread"].float())
        if REFERENCE not in stats.normed:
            raise CheckpointError(f"{path} has no statistics for English ({REFERENCE}), the language the bridges "
                                  f"were trained on")
        return stats

    def sha256(self) -> str:
        """Identifies the statistics in results files and run signatures."""
        h = hashlib.sha256()
        for table in (self.normed, self.raw):
            for lang in sorted(table):
                h.update(lang.encode())
                for t in table[lang]:
                    h.update(t.numpy().tobytes())
        return h.hexdigest()


@torch.no_grad()
def compute_stats(encoder, tokenizer, texts_by_lang: dict, max_length: int = 128, prefix: str = "",
                  batch_size: int = 32, source: str = "") -> CenteringStats:
    """Mean and spread of every hidden state over all (non-pad) tokens of each language's sentences. The spread of a
    layer is the root mean square distance of its token states from the mean, per dimension."""
    device = next(encoder.parameters()).device
    stats = CenteringStats(meta={"encoder": getattr(encoder.config, "name_or_path", ""), "source": source,
                                 "max_length": max_length, "prefix": prefix, "sentences": {}, "tokens": {}})
    for lang, texts in sorted(texts_by_lang.items()):
        texts = [prefix + t for t in texts if t.strip()]
        if not texts:
            raise DataError(f"no sentences for language {lang!r}")
        sums = {"normed": 0.0, "raw": 0.0}
        squares = {"normed": 0.0, "raw": 0.0}
        n = 0
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt").to(device)
            hidden = torch.stack(encoder(**enc, output_hidden_states=True).hidden_states).float()  # [L + 1, B, T, D]
            keep = enc["attention_mask"].bool()                                               # [B, T]
            for kind, states in (("raw", hidden), ("normed", F.layer_norm(hidden, hidden.shape[-1:]))):
                tokens = states[:, keep]                                                      # [L + 1, N, D]
                sums[kind] = sums[kind] + tokens.double().sum(1)
                squares[kind] = squares[kind] + tokens.double().pow(2).sum(1)
            n += int(keep.sum())
        for kind, table in (("normed", stats.normed), ("raw", stats.raw)):
            mean = sums[kind] / n                                                             # [L + 1, D]
            spread = (squares[kind] / n - mean.pow(2)).clamp_min(0).mean(-1).sqrt()           # [L + 1]
            table[lang] = (mean.float(), spread.float())
        stats.meta["sentences"][lang], stats.meta["tokens"][lang] = len(texts), n
    return stats


class LanguageCentering:
    """What a model applies: per text, the affine map of its language's states onto English's (identity where the
    language has no statistics). `scale`: also match the spread (else only the mean moves). `tokens`: "all" moves
    every encoder token of the text, the English prompt template's words and the special tokens included; "text"
    moves only the tokens inside the text's spans (TextLanguage), the words actually written in that language."""

    def __init__(self, stats: CenteringStats, scale: bool = False, source: str | None = None, tokens: str = "all"):
        if tokens not in TOKENS:
            raise ConfigError(f"centering tokens must be one of {', '.join(TOKENS)}, got {tokens!r}")
        self.stats, self.scale, self.source, self.tokens = stats, scale, source, tokens

    def knows(self, lang) -> bool:
        lang = code_of(lang)
        return lang is not None and language_key(lang) in self.stats.normed

    def token_mask(self, languages: list, offsets: torch.Tensor, prefix_chars: int = 0) -> torch.Tensor | None:
        """Which encoder tokens to move: None (all of them) for tokens="all"; else [B, T] bool, True for a token
        whose characters (offsets [B, T, 2], from the tokenizer's offset mapping of prefix + text) lie inside one of
        its text's spans (a text without spans: every token with characters, i.e. not a special or pad token)."""
        if self.tokens == "all":
            return None
        start, end = offsets[..., 0] - prefix_chars, offsets[..., 1] - prefix_chars     # [B, T]
        mask = (end > start) & (start >= 0)                                             # real characters of the text
        for b, lang in enumerate(languages):
            spans = lang.spans if isinstance(lang, TextLanguage) else ()
            if spans:
                inside = torch.zeros_like(mask[b])
                for s, e in spans:
                    inside |= (start[b] >= s) & (end[b] <= e)
                mask[b] &= inside
        return mask

    def affine(self, layers: list[int], languages: list, normed: bool, device=None):
        """layers: the hidden-state indices read; languages: one code per text (None = unknown).
        Returns scale [L', B, 1, 1] and offset [L', B, 1, D] with h' = h * scale + offset."""
        table = self.stats.normed if normed else self.stats.raw
        ref_mean, ref_spread = table[REFERENCE]
        scales, offsets = [], []
        for lang in map(code_of, languages):
            key = language_key(lang) if lang is not None else None
            if key not in table or key == REFERENCE:
                scales.append(torch.ones(len(layers)))
                offsets.append(torch.zeros(len(layers), ref_mean.shape[-1]))
                continue
            mean, spread = table[key]
            s = (ref_spread[layers] / spread[layers]) if self.scale else torch.ones(len(layers))   # [L']
            scales.append(s)
            offsets.append(ref_mean[layers] - mean[layers] * s[:, None])                        # [L', D]
        scale = torch.stack(scales, 1)[..., None, None]                                        # [L', B, 1, 1]
        offset = torch.stack(offsets, 1)[:, :, None, :]                                        # [L', B, 1, D]
        return scale.to(device), offset.to(device)

    def describe(self) -> dict:
        out = {"uses_unlabeled_target_text": True, "scale": self.scale, "source": self.source,
               "text_source": self.stats.meta.get("source"), "languages": self.stats.languages(),
               "sha256": self.stats.sha256()}
        if self.tokens != "all":   # (runs that moved every token predate the choice: their signatures stay as they were)
            out["tokens"] = self.tokens
        return out


# ---------------------------------------------------------------- reading unlabeled text

def read_texts(path, text_field: str = "text", lang_field: str = "lang", columns: list[str] | None = None) -> dict:
    """Unlabeled sentences per language from a folder of <lang>.txt files (one sentence a line), or from a JSON Lines
    file: its `text_field` grouped by `lang_field`, or, with `columns`, each named column a language (parallel text
    such as NTREX-128's). No other field (a label) is read."""
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise DataError(f"{path} has no <lang>.txt files of sentences")
        return {f.stem: [l.strip() for l in f.read_text(encoding="utf-8").splitlines() if l.strip()] for f in files}
    if not path.is_file():
        raise DataError(f"{path} is neither a folder of <lang>.txt files nor a JSON Lines file")
    texts: dict[str, list] = {}
    for i, row in iter_jsonl(path):
        if columns:
            for lang in columns:
                if lang not in row:
                    raise DataError(f"{path}:{i} has no column {lang!r}")
                texts.setdefault(lang, []).append(str(row[lang]))
        else:
            if text_field not in row or lang_field not in row:
                raise DataError(f"{path}:{i} has no {text_field!r} or {lang_field!r} field")
            texts.setdefault(str(row[lang_field]), []).append(str(row[text_field]))
    return texts


def main(argv=None):
    """python -m fusion.centering TEXTS OUT [--preset pocket] [--columns en,si,...]: compute the statistics."""
    import argparse
    import sys

    from . import backbones
    from .errors import LayerBridgeError
    from .presets import PRESETS
    p = argparse.ArgumentParser(prog="python -m fusion.centering",
                                description="Per-language mean and spread of the encoder's states, from unlabeled text")
    p.add_argument("texts", help="a folder of <lang>.txt files, or a JSON Lines file (text + lang fields, or --columns)")
    p.add_argument("output", help="the statistics directory to write")
    p.add_argument("--preset", default="pocket", choices=list(PRESETS))
    p.add_argument("--text-field", default="text")
    p.add_argument("--lang-field", default="lang")
    p.add_argument("--columns", help="comma-separated language columns of a parallel JSON Lines file")
    p.add_argument("--max-length", type=int, default=128)
    args = p.parse_args(argv)
    try:
        texts = read_texts(args.texts, args.text_field, args.lang_field,
                           args.columns.split(",") if args.columns else None)
        texts = {language_key(k): v for k, v in texts.items()}
        if REFERENCE not in texts:
            raise DataError(f"{args.texts} has no English ({REFERENCE} or en) sentences: the statistics need them")
        preset = PRESETS[args.preset]
        encoder, tokenizer = backbones.load_encoder(preset["encoder"], torch.device("cpu"), torch.float32)
        stats = compute_stats(encoder, tokenizer, texts, args.max_length, preset.get("encoder_text_prefix", ""),
                              source=str(args.texts))
        stats.meta["encoder"] = preset["encoder"]
        stats.save(args.output)
        print(f"wrote {args.output}: {len(stats.languages())} languages, "
              f"{sum(stats.meta['sentences'].values())} sentences")
    except LayerBridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
