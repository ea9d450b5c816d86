"""What every model kind offers, so that evaluation, training and the app never ask which kind they hold.

A model kind (FusedModel, PlainLLM, and any later one such as an encoder-alone probe) provides:

    name: str                   the name results files and the leaderboard show
    precision: str              "float32" | "bfloat16": the frozen backbones' dtype (fusion.precision)
    device: torch.device
    classify(texts, choices, batch_size=16, scoring="loglik") -> list[dict]
                                per text at least: choices, probs [C], pred (index), label; FusedModel adds its
                                fusion weights, every kind may add truncated
    describe() -> dict          the results file's "model" entry: name, kind, path, strategy, encoder, llm,
                                checkpoint_sha256 (None where it does not apply)
    signature_parts() -> list[bytes]
                                what decides its predictions (weights, names): hashed into the run signature
                                that predictions are resumed under
    prompt_lengths(prompts) -> list[int]
                                tokens of each prompt as the model's reader sees them (batches of similar length)
    input_limit() -> (reader, max tokens)
                                who reads the prompt ("the encoder", "the LLM") and how many tokens it reads

Optional capabilities, looked up with `getattr(model, name, None)`:

    generate(texts, max_new_tokens) -> list[str]      free-form generation (eval's "generate" scoring)
    llm_tokenizer                                      the tokenizer of what generates (label lengths)
    pooled_states(texts, batch_size) -> dict           encoder states per layer (alignment tasks)
    centering                                          per-language centering (fusion.centering) in use, or None:
                                                       classify(..., languages=[code per text]) then reads languages

LLMClassifier is the shared implementation for kinds whose LLM reads a prompt as embeddings: one classify loop and
one generate; a kind only says how its prompts become LLM input (`llm_inputs`).
"""
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from .errors import ConfigError, InputError
from .scoring import choice_token_ids, score


@runtime_checkable
class ModelKind(Protocol):
    name: str

    @property
    def precision(self) -> str: ...

    @property
    def device(self) -> torch.device: ...

    def classify(self, texts, choices, batch_size: int = 16, scoring: str = "loglik") -> list[dict]: ...

    def describe(self) -> dict: ...

    def signature_parts(self) -> list[bytes]: ...

    def prompt_lengths(self, prompts: list[str]) -> list[int]: ...

    def input_limit(self) -> tuple[str, int]: ...


def check_model(model) -> ModelKind:
    """`model` itself, or ConfigError where it lacks the ModelKind interface."""
    if not isinstance(model, ModelKind):
        raise ConfigError(f"cannot evaluate a {type(model).__name__}: give a model with the fusion.interface."
                          f"ModelKind interface (FusedModel, PlainLLM), a checkpoint directory, a preset name or "
                          f"plain:<llm>")
    return model


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
class LLMInput:
    embeds: torch.Tensor           # [B, P, D_llm] left-padded prompt embeddings
    mask: torch.Tensor             # [B, P]
    extras: list[dict]             # per text: what classify adds to its summary (truncated, fusion weights, ...)


class LLMClassifier:
    """classify and generate for a kind whose frozen LLM (`self.llm`, `self.llm_tokenizer`) reads `llm_inputs`."""

    def llm_inputs(self, texts: list[str], languages: list | None = None) -> LLMInput:
        raise NotImplementedError

    @torch.no_grad()
    def classify(self, texts, choices, batch_size: int = 16, scoring: str = "loglik",
                 languages: list | None = None) -> list[dict]:
        """Score every choice after each text (`scoring`: "loglik" or "constrained", see fusion.scoring).
        Per text: choices, scoring, probs, pred, label (+ loglik, loglik_mean, pred_norm for "loglik") and the
        kind's extras (truncated; for FusedModel the fusion weights). `languages` (one code per text): read only by
        a kind that centres its encoder states per language (optional capability `centering`)."""
        texts, choices = check_texts(texts), check_choices(choices)
        if languages is not None and len(languages) != len(texts):
            raise InputError(f"{len(texts)} texts but {len(languages)} languages")
        choice_ids = choice_token_ids(self.llm_tokenizer, choices, scoring)
        results = []
        for start in range(0, len(texts), batch_size):
            part = None if languages is None else list(languages[start:start + batch_size])
            batch = self.llm_inputs(texts[start:start + batch_size], part)
            for summary, extra in zip(score(self.llm, batch.embeds, batch.mask, choice_ids, choices, scoring),
                                      batch.extras):
                results.append({**summary, **extra})
        return results

    @torch.no_grad()
    def generate(self, texts, max_new_tokens: int = 32) -> list[str]:
        """Greedy free-form continuation after the prompt."""
        texts = check_texts(texts)
        if not isinstance(max_new_tokens, int) or not 1 <= max_new_tokens <= 1024:
            raise InputError("max_new_tokens must be an integer between 1 and 1024")
        batch = self.llm_inputs(texts)
        out = self.llm.generate(inputs_embeds=batch.embeds, attention_mask=batch.mask, max_new_tokens=max_new_tokens,
                                do_sample=False, pad_token_id=self.llm_tokenizer.pad_token_id)
        return self.llm_tokenizer.batch_decode(out, skip_special_tokens=True)
