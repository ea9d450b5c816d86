"""The no-encoder baseline: the LLM reads the text directly (tokens, no bridge). Same `classify` output
as FusedModel, without fusion weights."""
import torch

from . import backbones
from .model import check_choices, check_texts
from .precision import precision_name, resolve_dtype
from .scoring import choice_token_ids, left_pad, score


class PlainLLM:
    def __init__(self, llm, tokenizer, name: str, max_length: int = 512):
        self.llm, self.tokenizer, self.name, self.max_length = llm.eval(), tokenizer, name, max_length
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
        return cls(llm, tok, llm_name)

    @property
    def device(self):
        return next(self.llm.parameters()).device

    @property
    def precision(self) -> str:
        return precision_name(self.llm.get_input_embeddings().weight.dtype)

    def prompt_embeddings(self, texts: list[str]):
        """[BOS] + text tokens (truncated from the left, keeping the prompt's end) -> left-padded embeds, mask."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        truncated, rows = [], []
        emb = self.llm.get_input_embeddings()
        for t in texts:
            ids = self.tokenizer(t, add_special_tokens=False)["input_ids"]
            truncated.append(len(ids) > self.max_length - len(bos))
            ids = bos + ids[-(self.max_length - len(bos)):]
            rows.append(emb(torch.tensor(ids, device=self.device)))
        embeds, mask = left_pad(rows)
        return embeds, mask, truncated

    @torch.no_grad()
    def classify(self, texts, choices, batch_size: int = 16, scoring: str = "loglik") -> list[dict]:
        texts, choices = check_texts(texts), check_choices(choices)
        choice_ids = choice_token_ids(self.tokenizer, choices, scoring)
        results = []
        for start in range(0, len(texts), batch_size):
            embeds, mask, truncated = self.prompt_embeddings(texts[start:start + batch_size])
            for summary, cut in zip(score(self.llm, embeds, mask, choice_ids, choices, scoring), truncated):
                summary["truncated"] = cut
                results.append(summary)
        return results

    @torch.no_grad()
    def generate(self, texts, max_new_tokens: int = 32) -> list[str]:
        embeds, mask, _ = self.prompt_embeddings(check_texts(texts))
        out = self.llm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens,
                                do_sample=False, pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)
