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

from . import backbones, checkpoint, hub
from .config import FusionConfig
from .errors import CheckpointError, InputError
from .interface import LLMClassifier, LLMInput, check_texts
from .pooling import mean_pool
from .precision import precision_name, resolve_dtype
from .scoring import left_pad, positions
from .centering import centered_name
from .strategies import Bridge
from .weight_stats import token_entropy


@dataclass
class EncoderBatch:
    input_ids: torch.Tensor        # [B, T] right-padded
    attention_mask: torch.Tensor   # [B, T]
    truncated: list[bool]          # the text was longer than max_encoder_length and was cut
    offsets: torch.Tensor | None = None   # [B, T, 2] characters of prefix + text per token (0, 0 = special/pad)


@dataclass
class SoftPrompt:
    embeds: torch.Tensor           # [B, P, D_llm] left-padded: [BOS; mapped; boundary]
    mask: torch.Tensor             # [B, P]
    weights: torch.Tensor          # [B, T, L] fusion weights per encoder token (pads 0)
    encoded: EncoderBatch


class FusedModel(LLMClassifier, nn.Module):
    """The model kind of fusion.interface whose LLM reads the bridge's soft prompt."""

    def __init__(self, config: FusionConfig, encoder, encoder_tokenizer, llm, llm_tokenizer):
        super().__init__()
        self.config = config
        self.name = f"fused-{config.strategy}"      # from_pretrained: the checkpoint directory's name
        self.source: str | None = None               # from_pretrained: the directory as given, or USER/NAME@<commit>
        self.files: Path | None = None               # from_pretrained: the directory its files were read from
        self.centering = None                        # use_centering: fusion.centering.LanguageCentering
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
    def from_pretrained(cls, path, device=None, dtype="auto", backbones: "FusedModel | None" = None,
                        revision: str | None = None) -> "FusedModel":
        """Load a bridge written by save_pretrained (config.json + bridge.safetensors): a directory, or a Hugging Face
        Hub model repository id, USER/NAME, at `revision` (a branch, tag or commit; fusion.hub: only those two files
        are downloaded, into the Hugging Face cache). `backbones`: an already-loaded FusedModel whose frozen encoder
        and LLM this bridge shares (loaded once for many bridges; the fingerprint check refuses other backbones)."""
        found = hub.locate(path, revision, checkpoint.SERVED_BRIDGE_FILES, "checkpoint")
        path = checkpoint.check_dir(found.path)
        config = checkpoint.read_config(path)
        if backbones is not None:
            model = cls(config, backbones.encoder, backbones.encoder_tokenizer, backbones.llm, backbones.llm_tokenizer)
        else:
            model = cls.from_config(config, device=device, dtype=dtype)
        checkpoint.load_bridge(path, model.bridge)
        model.name, model.source, model.files = found.name, found.source, path
        return model

    def save_pretrained(self, path, model_card: str | None = None, dtype: torch.dtype = torch.float32):
        """Write the checkpoint (fusion.checkpoint: config.json + bridge.safetensors [+ README.md])."""
        checkpoint.save(path, self.config, self.bridge, model_card=model_card, dtype=dtype)

    def push_to_hub(self, repo_id: str, model_card: str | None = None, revision: str | None = None,
                    private: bool = False, commit_message: str | None = None, token: str | None = None) -> str:
        """Upload the bridge (config.json, bridge.safetensors) and its card (README.md) to the Hub model repository
        `repo_id` in one commit (fusion.hub.push: the token and the Hub are checked before anything is created).
        model_card: default, the card of the checkpoint directory it was loaded from, else one from its config.
        -> the commit's URL."""
        import tempfile

        from . import model_card as cards
        if model_card is None and self.files is not None:
            model_card = checkpoint.read_card(self.files)
        with tempfile.TemporaryDirectory(prefix="layerbridge-push-") as folder:
            self.save_pretrained(folder, model_card=model_card or cards.untrained_card(self.config.to_dict()))
            return hub.push(folder, repo_id, checkpoint.PUSHED_BRIDGE_FILES, revision=revision, private=private,
                            commit_message=commit_message or f"Upload LayerBridge bridge {self.name}", token=token)

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

    # ------------------------------------------------------------------ the interface (fusion.interface)

    def use_centering(self, centering) -> "FusedModel":
        """Read each text's encoder states moved onto English's by its language's statistics (fusion.centering).
        The model then uses unlabeled target-language text: its name gets "+centered", and describe() says so."""
        self.centering = centering
        if centering is not None:
            self.name = centered_name(self.name, centering.tokens)
        return self

    def describe(self) -> dict:
        cfg = self.config
        out = dict(name=self.name, kind="fused", path=self.source, strategy=cfg.strategy, encoder=cfg.encoder,
                   llm=cfg.llm, checkpoint_sha256=checkpoint.weights_sha256(self.files) if self.files else None)
        if self.centering is not None:
            out["centering"] = self.centering.describe()
        return out

    def signature_parts(self) -> list[bytes]:
        """The config and the bridge's weights (the backbones are identified by their fingerprints in the config)
        [+ the centering statistics]."""
        parts = [json.dumps(self.config.to_dict(), sort_keys=True, default=str).encode()]
        if self.centering is not None:
            parts.append(json.dumps(self.centering.describe(), sort_keys=True).encode())
        for name, tensor in sorted(self.bridge.state_dict().items()):
            parts += [name.encode(), tensor.detach().float().cpu().numpy().tobytes()]
        return parts

    def prompt_lengths(self, prompts: list[str]) -> list[int]:
        return [len(ids) for ids in self.encoder_tokenizer(prompts, add_special_tokens=False)["input_ids"]]

    def input_limit(self) -> tuple[str, int]:
        return "the encoder", self.config.max_encoder_length

    # ------------------------------------------------------------------ the soft prompt

    def encode(self, texts: list[str]) -> EncoderBatch:
        texts = [self.config.encoder_text_prefix + t for t in check_texts(texts)]
        limit = self.config.max_encoder_length
        full_lengths = [len(ids) for ids in self.encoder_tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]]
        batch = self.encoder_tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt",
                                       return_offsets_mapping=True)
        return EncoderBatch(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device),
                            [n > limit for n in full_lengths], batch["offset_mapping"])

    def soft_prompt(self, texts: list[str], languages: list | None = None) -> SoftPrompt:
        """languages: one code (or fusion.centering.TextLanguage) per text, None entries allowed; read only when the
        model uses centering."""
        enc = self.encode(texts)
        centering = None
        if self.centering is not None and languages is not None:
            if len(languages) != len(texts):
                raise InputError(f"{len(texts)} texts but {len(languages)} languages")
            scale, offset = self.centering.affine(self.bridge.layers, languages, self.config.layer_norm, self.device)
            where = self.centering.token_mask(languages, enc.offsets, len(self.config.encoder_text_prefix))
            centering = (scale, offset, None if where is None else where.to(self.device)[None, :, :, None])
        with torch.no_grad():
            hidden = self.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                                  output_hidden_states=True).hidden_states      # L+1 x [B, T, D]
        # the bridge computes in bfloat16 where the backbones do (autocast: its parameters, their gradients and the
        # optimizer state stay float32); a few % of a training step (bench/precision.py)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.llm_dtype == torch.bfloat16):
            mapped, weights = self.bridge(hidden, enc.attention_mask, centering)  # [B, T, D_llm], [B, T, L]
        mapped = mapped.to(self.llm_dtype)
        boundary = self.bridge.boundary.to(self.llm_dtype)[None]                 # [1, D_llm]
        bos = self._bos_embedding()                                              # [0 or 1, D_llm]
        lengths = enc.attention_mask.sum(1).tolist()
        rows = [torch.cat([bos, mapped[i, :n], boundary]) for i, n in enumerate(lengths)]
        embeds, mask = left_pad(rows)                                            # [B, P, D_llm], [B, P]
        return SoftPrompt(embeds, mask, weights, enc)

    @torch.no_grad()
    def pooled_states(self, texts: list[str], batch_size: int = 32) -> dict:
        """Mean-pooled encoder states per text: every hidden state [L + 1, N, D] (index 0 = embeddings), the fused
        representation [N, D] (before the mapping) and the fusion weights averaged over each text's tokens [N, L']
        (L' = the fused layers, `self.bridge.layers`). For cross-lingual alignment measurements."""
        per_layer, fused_all, weights_all = [], [], []
        for start in range(0, len(texts), batch_size):
            enc = self.encode(texts[start:start + batch_size])
            hidden = self.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                                  output_hidden_states=True).hidden_states
            pool = lambda h: mean_pool(h, enc.attention_mask)                        # [B, T, D] -> [B, D]
            per_layer.append(torch.stack([pool(h) for h in hidden]))                 # [L + 1, B, D]
            fused, weights = self.bridge.fuse(hidden, enc.attention_mask)            # [B, T, D], [B, T, L'] (pads 0)
            fused_all.append(pool(fused))
            weights_all.append(pool(weights))                                        # [B, L'] (pads are 0)
        return dict(layers=torch.cat(per_layer, 1), fused=torch.cat(fused_all, 0), weights=torch.cat(weights_all, 0))

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
        """Prefix-LM loss: cross-entropy on the target tokens (+ EOS) only; the soft prompt is the prefix. With
        config.fusion_entropy_weight > 0, minus that weight times the mean entropy of the tokens' layer weights."""
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
        if self.config.fusion_entropy_weight:
            keep_tokens = prompt.encoded.attention_mask.bool()                      # [B, T]
            entropy = token_entropy(prompt.weights[keep_tokens]).mean()             # mean over real tokens
            loss = loss - self.config.fusion_entropy_weight * entropy
        return loss

    # ------------------------------------------------------------------ inference

    def llm_inputs(self, texts: list[str], languages: list | None = None) -> LLMInput:
        """The soft prompts, and per text its fusion weights (fusion.interface's shared classify adds them); with
        centering, also whether the text's language had statistics ("centered")."""
        prompt = self.soft_prompt(texts, languages)
        extras = [self._weights_view(prompt, i) for i in range(len(texts))]
        if self.centering is not None:
            for extra, lang in zip(extras, languages or [None] * len(texts)):
                extra["centered"] = self.centering.knows(lang)
        return LLMInput(prompt.embeds, prompt.mask, extras)

    def _weights_view(self, prompt: SoftPrompt, i: int) -> dict:
        n = int(prompt.encoded.attention_mask[i].sum())
        token_weights = prompt.weights[i, :n].float()                             # [T_i, L]
        ids = prompt.encoded.input_ids[i, :n].tolist()
        return dict(layers=list(self.bridge.layers), layer_weights=token_weights.mean(0).tolist(),
                    tokens=self.encoder_tokenizer.convert_ids_to_tokens(ids),
                    token_weights=token_weights.tolist(), truncated=prompt.encoded.truncated[i])
