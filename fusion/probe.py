"""The encoder-alone baseline: what a user would pick instead of an LLM. The frozen encoder's last layer,
mean-pooled over the tokens and L2-normalised, feeds a multinomial logistic regression trained on the same
English data as the bridges (scikit-learn; its regularisation C chosen on English dev). No LLM at all.

It answers the same `classify(texts, choices)` as FusedModel and PlainLLM, for the labels it was trained on.
Its files (a JSON config and safetensors weights: no pickle) are laid out by fusion.checkpoint.
"""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import backbones, checkpoint, hub
from .centering import centered_name
from .errors import CheckpointError, ConfigError, InputError
from .interface import check_choices, check_texts
from .pooling import mean_pool
from .precision import precision_name, resolve_dtype
from .presets import preset_of

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)


@dataclass
class ProbeConfig:
    encoder: str                       # a packaged name, local directory or hub id (as FusionConfig.encoder)
    choices: list                      # the label strings it was trained on, index = label id
    encoder_text_prefix: str = ""
    max_encoder_length: int = 128
    C: float | None = None             # inverse regularisation strength, chosen on English dev
    task: str | None = None
    dev_accuracy: dict = field(default_factory=dict)   # C -> English dev accuracy, the selection record
    model_type: str = "layerbridge-probe"


class EncoderProbe:
    """Frozen encoder -> mean-pooled, L2-normalised last layer [N, D] -> linear classifier [K, D] + [K]."""

    def __init__(self, config: ProbeConfig, encoder, tokenizer, weight=None, bias=None):
        self.config, self.encoder, self.tokenizer = config, encoder.eval(), tokenizer
        self.tokenizer.padding_side = "right"
        for p in encoder.parameters():
            p.requires_grad_(False)
        self.weight, self.bias = weight, bias   # [K, D], [K] float32, None until fitted
        self.name = f"probe-{Path(config.encoder).name}"
        self.path = None                         # the directory its files were read from (from_pretrained)
        self.source = None                       # that directory as given, or USER/NAME@<commit>
        self.centering = None                    # use_centering: fusion.centering.LanguageCentering

    @classmethod
    def from_preset(cls, preset: str, device=None, dtype="auto", **overrides) -> "EncoderProbe":
        from .presets import PRESETS
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        p = PRESETS[preset]
        config = ProbeConfig(encoder=p["encoder"], choices=[], encoder_text_prefix=p.get("encoder_text_prefix", ""),
                             max_encoder_length=p.get("max_encoder_length", 128), **overrides)
        return cls.from_config(config, device, dtype)

    @classmethod
    def from_config(cls, config: ProbeConfig, device=None, dtype="auto", weight=None, bias=None):
        device = torch.device(device) if device is not None else backbones.default_device()
        encoder, tok = backbones.load_encoder(config.encoder, device, resolve_dtype(dtype, device))
        return cls(config, encoder, tok, weight, bias)

    @classmethod
    def from_pretrained(cls, path, device=None, dtype="auto", revision: str | None = None) -> "EncoderProbe":
        """A probe written by save_pretrained: a directory, or a Hugging Face Hub model repository id, USER/NAME, at
        `revision` (fusion.hub: only probe_config.json and probe.safetensors are downloaded)."""
        found = hub.locate(path, revision, checkpoint.SERVED_PROBE_FILES, "probe")
        config, weight, bias = cls.read(found.path)
        probe = cls.from_config(config, device, dtype, weight, bias)
        return probe.checked(found)

    @classmethod
    def load_on(cls, path, encoder, tokenizer, encoder_name: str, revision: str | None = None) -> "EncoderProbe":
        """A saved probe (a directory or a Hub id, as from_pretrained) on an already-loaded encoder (the app shares
        the bridges' encoder)."""
        found = hub.locate(path, revision, checkpoint.SERVED_PROBE_FILES, "probe")
        config, weight, bias = cls.read(found.path)
        if config.encoder != encoder_name:
            raise CheckpointError(f"{path} was trained on the encoder {config.encoder!r}, not {encoder_name!r}")
        return cls(config, encoder, tokenizer, weight, bias).checked(found)

    def checked(self, found: "hub.Located") -> "EncoderProbe":
        if self.weight.shape[1] != self.encoder.get_input_embeddings().embedding_dim:
            raise CheckpointError(f"{found.source} was trained on an encoder of width {self.weight.shape[1]}, not "
                                  f"{self.config.encoder}")
        self.path, self.source = found.path, found.source
        return self

    @staticmethod
    def read(path) -> tuple:
        """(ProbeConfig, weight [K, D], bias [K]) of a probe directory, checked."""
        data, weight, bias = checkpoint.read_probe(path)
        try:
            config = ProbeConfig(**data)
        except TypeError as e:
            raise CheckpointError(f"{path} holds a damaged probe config: {e}") from e
        if weight.shape[0] != len(config.choices) or bias.shape != (len(config.choices),):
            raise CheckpointError(f"{path} does not hold a classifier for {len(config.choices)} labels")
        return config, weight, bias

    def save_pretrained(self, path, model_card: str | None = None):
        if self.weight is None:
            raise ConfigError("this probe is not trained yet: call fit() first")
        checkpoint.save_probe(path, asdict(self.config), self.weight, self.bias)
        if model_card is not None:
            checkpoint.write_card(path, model_card)

    def push_to_hub(self, repo_id: str, model_card: str | None = None, revision: str | None = None,
                    private: bool = False, commit_message: str | None = None, token: str | None = None) -> str:
        """Upload the probe (probe_config.json, probe.safetensors) and its card (README.md) to the Hub model
        repository `repo_id` in one commit, as FusedModel.push_to_hub. -> the commit's URL."""
        import tempfile

        from . import model_card as cards
        if model_card is None and self.path is not None:
            model_card = checkpoint.read_card(self.path)
        with tempfile.TemporaryDirectory(prefix="layerbridge-push-") as folder:
            self.save_pretrained(folder, model_card=model_card or cards.untrained_card(asdict(self.config), "probe"))
            return hub.push(folder, repo_id, checkpoint.PUSHED_PROBE_FILES, revision=revision, private=private,
                            commit_message=commit_message or "Upload LayerBridge encoder-alone probe", token=token)

    @property
    def device(self) -> torch.device:
        return next(self.encoder.parameters()).device

    @property
    def precision(self) -> str:
        return precision_name(self.encoder.get_input_embeddings().weight.dtype)

    # ------------------------------------------------------------------ the model-kind interface (fusion.interface)

    def describe(self) -> dict:
        """The results file's "model" entry: the probes of one preset share the name probe-<preset> (one per task
        family; the path says which); a probe trained on a variant of its task's data (train_results.json's
        train_variant) adds the variant's tag, e.g. probe-pocket-sent, so that its results never overwrite the
        plain probe's. All of it read from the probe's own files, not its folder's name."""
        if self.path is None:
            return dict(name=self.name, kind="probe", path=None, strategy=None, encoder=self.config.encoder,
                        llm=None, checkpoint_sha256=None)
        info = checkpoint.identify(self.path)
        name = f"probe-{preset_of(self.config.encoder) or Path(self.config.encoder).name}"
        if info is not None and info.variant:
            name += f"-{info.variant}"
        out = dict(name=name, kind="probe", path=self.source, strategy=None, encoder=self.config.encoder,
                   llm=None, checkpoint_sha256=checkpoint.weights_sha256(self.path))
        if self.centering is not None:
            out["name"] = centered_name(out["name"], self.centering.tokens)
            out["centering"] = self.centering.describe()
        return out

    def use_centering(self, centering) -> "EncoderProbe":
        """Move each text's last-layer states onto English's by its language's raw statistics before pooling
        (fusion.centering): the probe then uses unlabeled target-language text, and its name says "+centered"."""
        self.centering = centering
        return self

    def signature_parts(self) -> list[bytes]:
        parts = [json.dumps(asdict(self.config), sort_keys=True).encode(), self.precision.encode(),
                 self.weight.numpy().tobytes(), self.bias.numpy().tobytes(),
                 backbones.fingerprint(self.encoder, self.tokenizer).encode()]
        if self.centering is not None:
            parts.append(json.dumps(self.centering.describe(), sort_keys=True).encode())
        return parts

    def prompt_lengths(self, prompts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=False)["input_ids"]]

    def input_limit(self) -> tuple[str, int]:
        return "the encoder", self.config.max_encoder_length

    # ------------------------------------------------------------------ features

    @torch.no_grad()
    def features(self, texts: list[str], batch_size: int = 32, languages: list | None = None
                 ) -> tuple[torch.Tensor, list[bool]]:
        """Mean-pooled, L2-normalised last encoder layer: [N, D] float32, and which texts were truncated. With
        centering and `languages`, each text's token states are first moved onto English's."""
        texts = [self.config.encoder_text_prefix + t for t in check_texts(texts)]
        limit = self.config.max_encoder_length
        out, truncated = [], []
        for start in range(0, len(texts), batch_size):
            part = texts[start:start + batch_size]
            truncated += [len(ids) > limit for ids in self.tokenizer(part, verbose=False)["input_ids"]]
            enc = self.tokenizer(part, padding=True, truncation=True, max_length=limit, return_tensors="pt",
                                 return_offsets_mapping=True)
            offsets = enc.pop("offset_mapping")                                        # [B, T, 2]
            enc = enc.to(self.device)
            last = self.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
            if self.centering is not None and languages is not None:
                langs = languages[start:start + batch_size]
                scale, offset = self.centering.affine([-1], langs, False, self.device)
                moved = last.float() * scale[0] + offset[0]                            # [B, 1, 1], [B, 1, D]
                where = self.centering.token_mask(langs, offsets, len(self.config.encoder_text_prefix))
                last = moved if where is None else torch.where(where.to(self.device)[..., None], moved, last.float())
            pooled = mean_pool(last, enc["attention_mask"])                            # [B, D]
            out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
        return torch.cat(out), truncated

    # ------------------------------------------------------------------ training

    def fit(self, train_texts, train_labels, dev_texts, dev_labels, choices, grid=C_GRID, seed: int = 0) -> dict:
        """Fit one logistic regression per C of `grid` on the training features, keep the C with the best English
        dev accuracy (ties: the smaller C, the stronger regularisation), refit nothing else. Returns the record."""
        from sklearn.linear_model import LogisticRegression
        choices = check_choices(list(choices))
        if set(train_labels) != set(range(len(choices))):
            raise InputError(f"every label must occur in the training data: found {sorted(set(train_labels))} "
                             f"of 0..{len(choices) - 1}")
        x_train = self.features(train_texts)[0].numpy()
        x_dev = self.features(dev_texts)[0].numpy()
        scores, fitted = {}, {}
        for C in grid:
            clf = LogisticRegression(C=C, max_iter=5000, random_state=seed).fit(x_train, train_labels)
            scores[str(C)] = float((clf.predict(x_dev) == np.asarray(dev_labels)).mean())
            fitted[str(C)] = clf
        best = max(scores, key=lambda c: (scores[c], -float(c)))
        clf = fitted[best]
        self.weight = torch.tensor(clf.coef_, dtype=torch.float32)                    # [K, D]
        self.bias = torch.tensor(clf.intercept_, dtype=torch.float32)                 # [K]
        self.config.choices, self.config.C, self.config.dev_accuracy = choices, float(best), scores
        return {"C": float(best), "dev_accuracy": scores[best], "dev_accuracy_per_C": scores,
                "train_examples": len(train_texts), "dev_examples": len(dev_texts)}

    # ------------------------------------------------------------------ inference

    @torch.no_grad()
    def classify(self, texts, choices, batch_size: int = 32, scoring: str = "loglik",
                 languages: list | None = None) -> list[dict]:
        """The classifier's probabilities over its labels, in the order of `choices` (which must be the labels
        it was trained on, any order, a leading space ignored). `scoring` is accepted for the common interface:
        a probe has one way of scoring."""
        if self.weight is None:
            raise ConfigError("this probe is not trained yet: train it with `python -m training.train_probe`")
        choices = check_choices(choices)
        known = [c.strip() for c in self.config.choices]
        wanted = [c.strip() for c in choices]
        if sorted(wanted) != sorted(known):
            raise InputError(f"this probe was trained on the labels {', '.join(known)}; it cannot score "
                             f"{', '.join(wanted)}")
        order = [known.index(c) for c in wanted]
        x, truncated = self.features(texts, batch_size, languages)
        probs = torch.softmax(x @ self.weight.T + self.bias, dim=-1)[:, order]       # [N, C]
        return [dict(choices=choices, scoring="probe", probs=p.tolist(), pred=int(p.argmax()),
                     label=choices[int(p.argmax())], truncated=cut) for p, cut in zip(probs, truncated)]
