"""The fused model: frozen encoder -> fusion over all its layers -> mapping -> frozen LLM (via inputs_embeds).

LLM input per example: [emb(BOS); mapped encoder states; boundary; emb(target tokens)]. The text reaches the
LLM only through the encoder. Prompts are left-padded inside a batch and get position ids that skip the padding,
so a batch gives the same numbers as one example at a time. Only `self.bridge` (fusion + mapping + boundary)
is trained and saved.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from . import backbones
from .config import FusionConfig
from .errors import CheckpointError, ConfigError, InputError
from .precision import precision_name, resolve_dtype
from .scoring import choice_token_ids, left_pad, positions, score
from .strategies import Bridge

BRIDGE_FILE = "bridge.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def check_texts(texts) -> list[str]:
    """A list of non-empty strings (a single string is accepted as a list of one)."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InputError("give at least one text (a string or a list of strings)")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"text {i} is a {type(t).__name__}, not a string")
        if not t.strip():
            raise InputError(f"text {i} is empty or whitespace only: type something to classify")
    return list(texts)


def check_choices(choices) -> list[str]:
    if not isinstance(choices, (list, tuple)) or len(choices) < 1:
        raise InputError("give at least one choice (label string) to score")
    if any(not isinstance(c, str) or not c.strip() for c in choices):
        raise InputError("every choice must be a non-empty string")
    if len(set(choices)) != len(choices):
        raise InputError(f"choices must be distinct: {list(choices)}")
    return list(choices)


@dataclass
class EncoderBatch:
    input_ids: torch.Tensor        # [B, T] right-padded
    attention_mask: torch.Tensor   # [B, T]
    truncated: list[bool]          # the text was longer than max_encoder_length and was cut


@dataclass
class SoftPrompt:
    embeds: torch.Tensor           # [B, P, D_llm] left-padded: [BOS; mapped; boundary]
    mask: torch.Tensor             # [B, P]
    weights: torch.Tensor          # [B, T, L] fusion weights per encoder token (pads 0)
    encoded: EncoderBatch


class FusedModel(nn.Module):
    def __init__(self, config: FusionConfig, encoder, encoder_tokenizer, llm, llm_tokenizer):
        super().__init__()
        self.config = config
        self.encoder, self.encoder_tokenizer = encoder, encoder_tokenizer
        self.llm, self.llm_tokenizer = llm, llm_tokenizer
        self.encoder_tokenizer.padding_side = "right"  # absolute-position encoders (BERT) need right padding
        for p in list(encoder.parameters()) + list(llm.parameters()):
            p.requires_grad_(False)
        self._check_and_fill_sizes()
        device = next(llm.parameters()).device
        self.bridge = Bridge(config).to(device)  # kept in float32 whatever the backbones' dtype
        self.train(False)

    # ------------------------------------------------------------------ construction

    def _check_and_fill_sizes(self):
        cfg = self.config
        enc_cfg = self.encoder.config
        actual = dict(
            encoder_hidden_size=self.encoder.get_input_embeddings().embedding_dim,
            num_encoder_layers=getattr(enc_cfg, "num_layers", None) or enc_cfg.num_hidden_layers,
            llm_hidden_size=self.llm.get_input_embeddings().embedding_dim,
            encoder_fingerprint=backbones.fingerprint(self.encoder, self.encoder_tokenizer),
            llm_fingerprint=backbones.fingerprint(self.llm, self.llm_tokenizer),
        )
        wrong = {k: (getattr(cfg, k), v) for k, v in actual.items() if getattr(cfg, k) not in (None, v)}
        if wrong:
            detail = "; ".join(f"{k}: checkpoint {a!r}, loaded model {b!r}" for k, (a, b) in wrong.items())
            raise CheckpointError(f"this bridge was built for other models than encoder {cfg.encoder!r} / "
                                  f"LLM {cfg.llm!r} as loaded here ({detail}). Load it with the encoder and LLM "
                                  f"it was trained with.")
        for k, v in actual.items():
            setattr(cfg, k, v)
        cfg.fused_layers()  # raises ConfigError for layers the encoder does not have

    @classmethod
    def from_config(cls, config: FusionConfig, device=None, dtype="auto") -> "FusedModel":
        """dtype: the frozen backbones' precision, "auto" | "float32" | "bfloat16" (fusion.precision); the bridge
        stays float32."""
        device = torch.device(device) if device is not None else backbones.default_device()
        dtype = resolve_dtype(dtype, device)
        encoder, enc_tok = backbones.load_encoder(config.encoder, device, dtype)
        llm, llm_tok = backbones.load_llm(config.llm, device, dtype)
        return cls(config, encoder, enc_tok, llm, llm_tok)

    @classmethod
    def from_preset(cls, name: str, device=None, dtype="auto", **overrides) -> "FusedModel":
        from .presets import preset_config
        return cls.from_config(preset_config(name, **overrides), device=device, dtype=dtype)

    @classmethod
    def from_pretrained(cls, path, device=None, dtype="auto", backbones: "FusedModel | None" = None) -> "FusedModel":
        """Load a checkpoint directory written by save_pretrained (config.json + bridge.safetensors).
        `backbones`: an already-loaded FusedModel whose frozen encoder and LLM this bridge shares (loaded once
        for many bridges; the fingerprint check below refuses other backbones)."""
        path = Path(path).expanduser()
        if not path.is_dir():
            raise CheckpointError(f"checkpoint directory {str(path)!r} does not exist")
        weights = path / BRIDGE_FILE
        if not weights.is_file():
            pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
            if pickles:
                raise CheckpointError(f"{path} holds pickle files ({', '.join(pickles)}) and no {BRIDGE_FILE}: "
                                      f"pickle files can run arbitrary code and are never loaded; "
                                      f"save checkpoints with save_pretrained (safetensors)")
            raise CheckpointError(f"{path} has no {BRIDGE_FILE}: not a checkpoint written by save_pretrained")
        if not (path / "config.json").is_file():
            raise CheckpointError(f"{path} has no config.json: not a checkpoint written by save_pretrained")
        config = load_config(path / "config.json")
        if backbones is not None:
            model = cls(config, backbones.encoder, backbones.encoder_tokenizer, backbones.llm, backbones.llm_tokenizer)
        else:
            model = cls.from_config(config, device=device, dtype=dtype)
        try:
            state = load_file(str(weights), device=str(next(model.bridge.parameters()).device))
        except Exception as e:  # safetensors raises its own error types for damaged files
            raise CheckpointError(f"{weights} is not a readable safetensors file: {e}") from e
        missing, unexpected = set(model.bridge.state_dict()) - set(state), set(state) - set(model.bridge.state_dict())
        if missing or unexpected:
            raise CheckpointError(f"{weights} does not match a {config.strategy!r} bridge: "
                                  f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
        shapes = {k: (tuple(v.shape), tuple(state[k].shape)) for k, v in model.bridge.state_dict().items()
                  if tuple(v.shape) != tuple(state[k].shape)}
        if shapes:
            raise CheckpointError(f"{weights} was built for other model widths: " +
                                  "; ".join(f"{k} expects {a}, file has {b}" for k, (a, b) in list(shapes.items())[:5]))
        model.bridge.load_state_dict({k: v.float() for k, v in state.items()})
        return model

    def save_pretrained(self, path, model_card: str | None = None, dtype: torch.dtype = torch.float32):
        """Write config.json + bridge.safetensors (trainable weights only) [+ README.md]."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(path)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.bridge.state_dict().items()}
        save_file(state, str(path / BRIDGE_FILE), metadata={"format": "pt", "strategy": self.config.strategy})
        if model_card is not None:
            (path / "README.md").write_text(model_card, encoding="utf-8")

    # ------------------------------------------------------------------ bookkeeping

    def train(self, mode: bool = True):
        """Only the bridge ever trains; the frozen encoder and LLM stay in eval mode (no dropout)."""
        super().train(False)
        self.bridge.train(mode)
        self.training = mode
        return self

    def trainable_parameters(self):
        return [p for p in self.bridge.parameters() if p.requires_grad]

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    @property
    def device(self) -> torch.device:
        return next(self.llm.parameters()).device

    @property
    def llm_dtype(self) -> torch.dtype:
        return self.llm.get_input_embeddings().weight.dtype

    @property
    def precision(self) -> str:
        """The frozen backbones' precision ("float32" or "bfloat16"), as recorded in results and model cards."""
        return precision_name(self.llm_dtype)

    # ------------------------------------------------------------------ the soft prompt

    def encode(self, texts: list[str]) -> EncoderBatch:
        texts = [self.config.encoder_text_prefix + t for t in check_texts(texts)]
        limit = self.config.max_encoder_length
        full_lengths = [len(ids) for ids in self.encoder_tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]]
        batch = self.encoder_tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return EncoderBatch(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device),
                            [n > limit for n in full_lengths])

    def soft_prompt(self, texts: list[str]) -> SoftPrompt:
        enc = self.encode(texts)
        with torch.no_grad():
            hidden = self.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                                  output_hidden_states=True).hidden_states      # L+1 x [B, T, D]
        mapped, weights = self.bridge(hidden, enc.attention_mask)                # [B, T, D_llm], [B, T, L]
        mapped = mapped.to(self.llm_dtype)
        boundary = self.bridge.boundary.to(self.llm_dtype)[None]                 # [1, D_llm]
        bos = self._bos_embedding()                                              # [0 or 1, D_llm]
        lengths = enc.attention_mask.sum(1).tolist()
        rows = [torch.cat([bos, mapped[i, :n], boundary]) for i, n in enumerate(lengths)]
        embeds, mask = left_pad(rows)                                            # [B, P, D_llm], [B, P]
        return SoftPrompt(embeds, mask, weights, enc)

    @torch.no_grad()
    def pooled_states(self, texts: list[str], batch_size: int = 32) -> dict:
        """Mean-pooled encoder states per text: every hidden state [L + 1, N, D] (index 0 = embeddings) and the
        fused representation [N, D] (before the mapping). For cross-lingual alignment measurements."""
        per_layer, fused_all = [], []
        for start in range(0, len(texts), batch_size):
            enc = self.encode(texts[start:start + batch_size])
            hidden = self.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                                  output_hidden_states=True).hidden_states
            m = enc.attention_mask[..., None].float()                                # [B, T, 1]
            pool = lambda h: (h.float() * m).sum(1) / m.sum(1)                       # [B, T, D] -> [B, D]
            per_layer.append(torch.stack([pool(h) for h in hidden]))                 # [L + 1, B, D]
            fused_all.append(pool(self.bridge.fuse(hidden, enc.attention_mask)[0]))
        return dict(layers=torch.cat(per_layer, 1), fused=torch.cat(fused_all, 0))

    def _bos_embedding(self) -> torch.Tensor:
        bos = self.llm_tokenizer.bos_token_id
        if bos is None:
            return self.llm.get_input_embeddings().weight.new_zeros(0, self.config.llm_hidden_size)
        return self.llm.get_input_embeddings()(torch.tensor([bos], device=self.device))

    # ------------------------------------------------------------------ training forward

    def target_ids(self, targets: list[str]):
        """Target strings + EOS -> right-padded ids [B, Tt] and mask [B, Tt]."""
        eos = self.llm_tokenizer.eos_token_id
        rows = [self.llm_tokenizer(t, add_special_tokens=False)["input_ids"][: self.config.max_target_length] + [eos]
                for t in targets]
        Tt = max(len(r) for r in rows)
        ids = torch.full((len(rows), Tt), eos, dtype=torch.long)
        mask = torch.zeros(len(rows), Tt, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        return ids.to(self.device), mask.to(self.device)

    def forward(self, texts: list[str], targets: list[str]):
        """Prefix-LM loss: cross-entropy on the target tokens (+ EOS) only; the soft prompt is the prefix."""
        if len(texts) != len(targets):
            raise InputError(f"{len(texts)} texts but {len(targets)} targets")
        prompt = self.soft_prompt(texts)
        ids, tmask = self.target_ids(targets)
        embeds = torch.cat([prompt.embeds, self.llm.get_input_embeddings()(ids)], dim=1)
        mask = torch.cat([prompt.mask, tmask], dim=1)
        P, Tt = prompt.mask.shape[1], ids.shape[1]
        keep = torch.arange(P - 1, P + Tt - 1, device=self.device)  # logits only where a target token is predicted
        out = self.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask),
                       logits_to_keep=keep, use_cache=False)
        labels = ids.masked_fill(tmask == 0, -100)
        loss = F.cross_entropy(out.logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        return loss

    # ------------------------------------------------------------------ inference

    @torch.no_grad()
    def classify(self, texts, choices, batch_size: int = 16, scoring: str = "loglik") -> list[dict]:
        """Score every choice after each text (`scoring`: "loglik" or "constrained", see fusion.scoring).
        Per text: choices, scoring, probs, pred, label (+ loglik, loglik_mean, pred_norm for "loglik"), and the
        fusion weights: layers (1-based), layer_weights [L], tokens (encoder pieces), token_weights [T, L],
        truncated (the text was cut at max_encoder_length)."""
        texts, choices = check_texts(texts), check_choices(choices)
        choice_ids = choice_token_ids(self.llm_tokenizer, choices, scoring)
        results = []
        for start in range(0, len(texts), batch_size):
            prompt = self.soft_prompt(texts[start:start + batch_size])
            for i, summary in enumerate(score(self.llm, prompt.embeds, prompt.mask, choice_ids, choices, scoring)):
                summary.update(self._weights_view(prompt, i))
                results.append(summary)
        return results

    def _weights_view(self, prompt: SoftPrompt, i: int) -> dict:
        n = int(prompt.encoded.attention_mask[i].sum())
        token_weights = prompt.weights[i, :n].float()                             # [T_i, L]
        ids = prompt.encoded.input_ids[i, :n].tolist()
        return dict(layers=list(self.bridge.layers), layer_weights=token_weights.mean(0).tolist(),
                    tokens=self.encoder_tokenizer.convert_ids_to_tokens(ids),
                    token_weights=token_weights.tolist(), truncated=prompt.encoded.truncated[i])

    @torch.no_grad()
    def generate(self, texts, max_new_tokens: int = 32) -> list[str]:
        """Greedy free-form continuation after the soft prompt."""
        texts = check_texts(texts)
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 1024:
            raise InputError("max_new_tokens must be an integer between 1 and 1024")
        prompt = self.soft_prompt(texts)
        out = self.llm.generate(inputs_embeds=prompt.embeds, attention_mask=prompt.mask,
                                max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=self.llm_tokenizer.pad_token_id)
        return self.llm_tokenizer.batch_decode(out, skip_special_tokens=True)


def load_config(path) -> FusionConfig:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not a readable JSON config: {e}") from e
    if not isinstance(data, dict) or data.get("model_type") != FusionConfig.model_type:
        raise CheckpointError(f"{path} is not a LayerBridge config (model_type {data.get('model_type') if isinstance(data, dict) else None!r})")
    try:
        return FusionConfig.from_dict(data)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has an invalid config: {e}") from e
