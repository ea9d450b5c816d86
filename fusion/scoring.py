"""Scoring choices after a prompt given as input embeddings: the prompt runs ONCE, every choice reuses its KV
cache, and LM-head logits are computed only at the positions being scored, in one matmul (Gemma's 262k-word head
is ~45% of a forward pass). Shared by the fused model and the plain-LLM baseline."""
import torch
import torch.nn.functional as F


def left_pad(rows: list[torch.Tensor]):
    """rows: list of [n_i, D] -> embeds [B, P, D] with zeros on the left, mask [B, P] (1 = real)."""
    P = max(r.shape[0] for r in rows)
    embeds = rows[0].new_zeros(len(rows), P, rows[0].shape[-1])
    mask = torch.zeros(len(rows), P, dtype=torch.long, device=rows[0].device)
    for i, r in enumerate(rows):
        embeds[i, P - r.shape[0]:] = r
        mask[i, P - r.shape[0]:] = 1
    return embeds, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding: [B, T]."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def lm_head_logits(llm, hidden: torch.Tensor) -> torch.Tensor:
    """The causal LM's head on final hidden states [N, D] -> logits [N, V], with the output scalings that
    transformers' causal LMs apply after the head (Gemma soft-capping, Cohere logit_scale, Granite logits_scaling).
    `fast_head_ok` checks once per model that this reproduces llm(...).logits."""
    logits = llm.get_output_embeddings()(hidden)
    cfg = llm.config
    if getattr(cfg, "logit_scale", None) is not None:
        logits = logits * cfg.logit_scale
    if getattr(cfg, "logits_scaling", None) is not None:
        logits = logits / cfg.logits_scaling
    cap = getattr(cfg, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits


@torch.no_grad()
def fast_head_ok(llm) -> bool:
    """True when llm.base_model + lm_head_logits give llm(...).logits for this model (checked once, cached)."""
    ok = getattr(llm, "_layerbridge_fast_head", None)
    if ok is None:
        ids = torch.tensor([[1, 2, 3]], device=llm.get_input_embeddings().weight.device)
        try:
            base = llm.base_model
            hidden = base(input_ids=ids).last_hidden_state[0]
            ok = base is not llm and torch.allclose(lm_head_logits(llm, hidden).float(),
                                                    llm(input_ids=ids).logits[0].float(), rtol=1e-3, atol=1e-3)
        except (AttributeError, TypeError, RuntimeError):
            ok = False
        llm._layerbridge_fast_head = bool(ok)
    return llm._layerbridge_fast_head


@torch.no_grad()
def score_choices_per_forward(llm, embeds: torch.Tensor, mask: torch.Tensor, choice_ids: list[list[int]]):
    """Fallback for an LLM whose head the fast path cannot reproduce: one forward per choice over [prompt; choice]
    through the model's own head, logits only at the scored positions. Same result, more compute."""
    emb = llm.get_input_embeddings()
    scores = []
    for toks in choice_ids:
        ids = torch.tensor(toks, device=mask.device)[None].expand(mask.shape[0], -1)    # [B, Lc]
        full_mask = torch.cat([mask, torch.ones_like(ids)], 1)
        logits = llm(inputs_embeds=torch.cat([embeds, emb(ids)], 1), attention_mask=full_mask,
                     position_ids=positions(full_mask), logits_to_keep=len(toks) + 1).logits[:, :-1]
        scores.append(F.log_softmax(logits.float(), -1).gather(-1, ids[..., None])[..., 0].sum(-1))  # [B]
    return torch.stack(scores, 1), torch.tensor([len(c) for c in choice_ids], device=mask.device)


@torch.no_grad()
def score_choices(llm, embeds: torch.Tensor, mask: torch.Tensor, choice_ids: list[list[int]]):
    """Log-likelihood of each choice's tokens after each prompt.

    embeds [B, P, D] left-padded prompt embeddings, mask [B, P]; choice_ids: C lists of token ids.
    Returns (loglik_sum [B, C], token_counts [C]) in float32.

    Pass 1: the backbone (no LM head) over the prompts. Pass 2, only for choices of more than one token: their
    tokens after the prompt's KV cache. Then ONE LM-head matmul over exactly the scored positions (the last prompt
    position + every choice position that predicts a real token): the head's 262k x D weight is read once.
    """
    if not fast_head_ok(llm):
        return score_choices_per_forward(llm, embeds, mask, choice_ids)
    B, P = mask.shape
    dev = mask.device
    lengths = torch.tensor([len(c) for c in choice_ids], device=dev)
    first_ids = torch.tensor([c[0] for c in choice_ids], device=dev)       # [C]
    multi = [c for c, toks in enumerate(choice_ids) if len(toks) > 1]       # choices that need pass 2
    backbone = llm.base_model
    out = backbone(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask), use_cache=bool(multi))
    hidden = [out.last_hidden_state[:, -1]]                                 # [B, D]: predicts every first token
    if multi:
        M, Lm = len(multi), max(len(choice_ids[c]) for c in multi)
        ids = torch.zeros(M, Lm, dtype=torch.long, device=dev)              # [M, Lm], right-padded
        for j, c in enumerate(multi):
            ids[j, :len(choice_ids[c])] = torch.tensor(choice_ids[c], device=dev)
        cmask = (torch.arange(Lm, device=dev)[None] < lengths[multi][:, None]).long()  # [M, Lm]
        cache = out.past_key_values
        cache.batch_repeat_interleave(M)                                    # [B * M, ...]: one copy per choice
        step_ids = ids[:, :-1].repeat(B, 1)                                 # [B*M, Lm-1]: the last predicts nothing
        full_mask = torch.cat([mask.repeat_interleave(M, 0), cmask[:, :-1].repeat(B, 1)], dim=1)
        step_pos = mask.sum(1).repeat_interleave(M)[:, None] + torch.arange(Lm - 1, device=dev)[None]
        out = backbone(input_ids=step_ids, attention_mask=full_mask, position_ids=step_pos, past_key_values=cache,
                       use_cache=False)
        scored = cmask[:, 1:].repeat(B, 1).bool()                           # [B*M, Lm-1]: predicts a real token
        hidden.append(out.last_hidden_state[scored])                        # [K, D]
    logp = F.log_softmax(lm_head_logits(llm, torch.cat(hidden)).float(), dim=-1)  # [B + K, V]
    scores = logp[:B][:, first_ids]                                         # [B, C]
    if multi:
        targets = ids[:, 1:].repeat(B, 1)[scored]                           # [K]
        per_token = logp[B:].gather(-1, targets[:, None])[:, 0]             # [K]
        rest = torch.zeros(scored.shape, device=dev).masked_scatter(scored, per_token)  # [B*M, Lm-1]
        scores[:, multi] += rest.sum(-1).view(B, M)                         # [B, M]
    return scores, lengths


def choice_summary(loglik: torch.Tensor, counts: torch.Tensor, choices: list[str]) -> list[dict]:
    """Per example: summed and mean log-likelihoods, probabilities over the choices and the prediction."""
    probs = torch.softmax(loglik, dim=-1)
    mean = loglik / counts[None].to(loglik.dtype)
    out = []
    for i in range(loglik.shape[0]):
        pred = int(loglik[i].argmax())
        out.append(dict(choices=list(choices), loglik=loglik[i].tolist(), loglik_mean=mean[i].tolist(),
                        probs=probs[i].tolist(), pred=pred, label=choices[pred],
                        pred_norm=int(mean[i].argmax())))
    return out
