"""The no-encoder baseline: the LLM reads the text directly (tokens, no bridge). The same interface as FusedModel
(fusion.interface), without fusion weights."""
from pathlib import Path

import torch

from . import backbones
from .interface import LLMClassifier, LLMInput
from .precision import precision_name, resolve_dtype
from .scoring import left_pad


class PlainLLM(LLMClassifier):
    def __init__(self, llm, llm_tokenizer, llm_name: str, max_length: int = 512, name: str | None = None):
        """llm_name: the LLM as FusionConfig.llm names it; name: shown in results (default plain-<llm name>)."""
        self.llm, self.llm_tokenizer, self.llm_name, self.max_length = llm.eval(), llm_tokenizer, llm_name, max_length
        self.name = name or f"plain-{Path(llm_name).name}"
        for p in llm.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_name(cls, name: str, device=None, dtype="auto") -> "PlainLLM":
        """`name`: a preset (its LLM is used) or an LLM name as FusionConfig.llm accepts; dtype: the precision
        ("auto" | "float32" | "bfloat16", fusion.precision)."""
        from .presets import PRESETS
        llm_name = PRESETS[name]["llm"] if name in PRESETS else name
        device = torch.device(device) if device is not None else backbones.default_device()
        llm, tok = backbones.load_llm(llm_name, device, resolve_dtype(dtype, device))
        return cls(llm, tok, llm_name, name=f"plain-{Path(name).name}")

    @property
    def device(self):
        return next(self.llm.parameters()).device

    @property
    def precision(self) -> str:
        return precision_name(self.llm.get_input_embeddings().weight.dtype)

    # ------------------------------------------------------------------ the interface (fusion.interface)

    def describe(self) -> dict:
        return dict(name=self.name, kind="plain", path=None, strategy=None, encoder=None, llm=self.llm_name,
                    checkpoint_sha256=None)

    def signature_parts(self) -> list[bytes]:
        fingerprint = backbones.fingerprint(self.llm, self.llm_tokenizer)
        return [f"{self.llm_name};{self.max_length};{fingerprint}".encode()]

    def prompt_lengths(self, prompts: list[str]) -> list[int]:
        return [len(ids) for ids in self.llm_tokenizer(prompts, add_special_tokens=False)["input_ids"]]

    def input_limit(self) -> tuple[str, int]:
        return "the LLM", self.max_length

    def llm_inputs(self, texts: list[str], languages: list | None = None) -> LLMInput:
        """[BOS] + text tokens (truncated from the left, keeping the prompt's end) -> left-padded embeds, mask."""
        bos = [self.llm_tokenizer.bos_token_id] if self.llm_tokenizer.bos_token_id is not None else []
        truncated, rows = [], []
        emb = self.llm.get_input_embeddings()
        for t in texts:
            ids = self.llm_tokenizer(t, add_special_tokens=False)["input_ids"]
            truncated.append(len(ids) > self.max_length - len(bos))
            ids = bos + ids[-(self.max_length - len(bos)):]
            rows.append(emb(torch.tensor(ids, device=self.device)))
        embeds, mask = left_pad(rows)                                            # [B, P, D_llm], [B, P]
        return LLMInput(embeds, mask, [{"truncated": cut} for cut in truncated])
