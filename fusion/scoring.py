"""Scoring choices after a prompt given as input embeddings: the prompt runs ONCE, every choice reuses its KV
cache, and LM-head logits are computed only at the positions being scored (Gemma's 262k-word head is ~45% of a
forward pass). Shared by the fused model and the plain-LLM baseline."""
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


@torch.no_grad()
def score_choices(llm, embeds: torch.Tensor, mask: torch.Tensor, choice_ids: list[list[int]]):
    """Log-likelihood of each choice's tokens after each prompt.

    embeds [B, P, D] left-padded prompt embeddings, mask [B, P]; choice_ids: C lists of token ids.
    Returns (loglik_sum [B, C], token_counts [C]) in float32.
    """
    B, P = mask.shape
    C = len(choice_ids)
    lengths = torch.tensor([len(c) for c in choice_ids], device=mask.device)
    Lc = int(lengths.max())
    ids = torch.zeros(C, Lc, dtype=torch.long, device=mask.device)          # [C, Lc], right-padded
    for c, toks in enumerate(choice_ids):
        ids[c, :len(toks)] = torch.tensor(toks, device=mask.device)
    cmask = (torch.arange(Lc, device=mask.device)[None] < lengths[:, None]).long()  # [C, Lc]

    out = llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask),
              use_cache=Lc > 1, logits_to_keep=1)
    first = F.log_softmax(out.logits[:, -1].float(), dim=-1)                # [B, V]: predicts each choice's 1st token
    scores = first[:, ids[:, 0]]                                            # [B, C]
    if Lc == 1:
        return scores, lengths

    cache = out.past_key_values
    cache.batch_repeat_interleave(C)                                        # [B * C, ...]: one copy per choice
    step_ids = ids[:, :-1].repeat(B, 1)                                     # [B*C, Lc-1]: the last token predicts nothing
    full_mask = torch.cat([mask.repeat_interleave(C, 0), cmask[:, :-1].repeat(B, 1)], dim=1)
    step_pos = mask.sum(1).repeat_interleave(C)[:, None] + torch.arange(Lc - 1, device=mask.device)[None]
    out = llm(input_ids=step_ids, attention_mask=full_mask, position_ids=step_pos, past_key_values=cache,
              use_cache=False)
    logp = F.log_softmax(out.logits.float(), dim=-1)                        # [B*C, Lc-1, V]
    rest = logp.gather(-1, ids[:, 1:].repeat(B, 1)[..., None])[..., 0]      # [B*C, Lc-1]
    rest = (rest * cmask[:, 1:].repeat(B, 1)).sum(-1).view(B, C)
    return scores + rest, lengths


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
