"""A seed ensemble: several bridges of one strategy (trained with different seeds) as one model, their choice
probabilities averaged. One training run's luck then weighs 1/k.

The members share one loaded encoder and LLM (FusedModel.from_pretrained(..., backbones=first)); each member runs its
own bridge and LLM pass, so an ensemble of k costs about k times one bridge.
"""
import os

import torch

from .centering import centered_name
from .errors import ConfigError
from .interface import check_choices, check_texts


def ensemble_name(names: list[str]) -> str:
    """"pocket-topic-last", "pocket-topic-last-s1", ... -> "pocket-topic-last-ens3" (their common prefix)."""
    stem = os.path.commonprefix(list(names)).rstrip("-")
    if stem.endswith("-s"):
        stem = stem[:-2]
    return f"{stem or 'ensemble'}-ens{len(names)}"


def average_vote(member_probs: list) -> tuple[list[float], int]:
    """The ensemble's decision on one text: its members' choice probabilities [k, C] averaged -> (probs [C], the
    chosen index)."""
    probs = torch.tensor(member_probs, dtype=torch.float32).mean(0)                        # [C]
    return probs.tolist(), int(probs.argmax())


class SeedEnsemble:
    """members: loaded models of one kind with the same choices interface (FusedModel bridges of one strategy)."""

    def __init__(self, members: list, name: str | None = None):
        if len(members) < 2:
            raise ConfigError(f"a seed ensemble needs at least 2 members, got {len(members)}")
        strategies = {getattr(m, "config", None) and m.config.strategy for m in members}
        if len(strategies) != 1:
            raise ConfigError(f"a seed ensemble averages seeds of ONE strategy; got {sorted(map(str, strategies))}")
        self.members = list(members)
        self.name = name or ensemble_name([m.name for m in members])
        self.centering = None

    @property
    def precision(self) -> str:
        return self.members[0].precision

    @property
    def device(self) -> torch.device:
        return self.members[0].device

    @property
    def config(self):
        return self.members[0].config

    def use_centering(self, centering) -> "SeedEnsemble":
        for m in self.members:
            m.use_centering(centering)
        self.centering = centering
        if centering is not None:
            self.name = centered_name(self.name, centering.tokens)
        return self

    def describe(self) -> dict:
        first = self.members[0].describe()
        out = dict(name=self.name, kind="ensemble", path=None, strategy=first.get("strategy"),
                   encoder=first.get("encoder"), llm=first.get("llm"), checkpoint_sha256=None,
                   members=[{"path": d.get("path"), "checkpoint_sha256": d.get("checkpoint_sha256")}
                            for d in (m.describe() for m in self.members)])
        if "centering" in first:
            out["centering"] = first["centering"]
        return out

    def signature_parts(self) -> list[bytes]:
        return [b"ensemble"] + [part for m in self.members for part in m.signature_parts()]

    def prompt_lengths(self, prompts: list[str]) -> list[int]:
        return self.members[0].prompt_lengths(prompts)

    def input_limit(self) -> tuple[str, int]:
        return self.members[0].input_limit()

    def classify(self, texts, choices, batch_size: int = 16, scoring: str = "loglik",
                 languages: list | None = None) -> list[dict]:
        """Each member's classify; per text the mean of their probabilities [C] decides. The fusion weights shown
        are the members' means (layer_weights [L], token_weights [T, L]); "member_preds" keeps each vote."""
        texts, choices = check_texts(texts), check_choices(choices)
        kw = {} if languages is None else {"languages": languages}
        runs = [m.classify(texts, choices, batch_size=batch_size, scoring=scoring, **kw) for m in self.members]
        out = []
        for per_text in zip(*runs):
            probs, pred = average_vote([r["probs"] for r in per_text])
            summary = dict(per_text[0], probs=probs, pred=pred, label=choices[pred], scoring=scoring,
                           member_preds=[r["pred"] for r in per_text])
            summary.pop("loglik", None), summary.pop("loglik_mean", None), summary.pop("pred_norm", None)
            for key in ("layer_weights", "token_weights"):
                if all(key in r for r in per_text):
                    summary[key] = torch.tensor([r[key] for r in per_text]).mean(0).tolist()
            out.append(summary)
        return out
