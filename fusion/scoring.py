"""Scoring choices after a prompt given as input embeddings: ONE pass over the prompt with all the choices' tokens
appended side by side (a tree attention mask keeps the choices apart), and LM-head logits only at the positions
being scored, in one matmul (Gemma's 262k-word head is ~45% of a forward pass). Shared by the fused model and the
plain-LLM baseline."""
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
    """True when llm.base_model + lm_head_logits give llm(...).logits for this model and its attention takes the
    custom mask of the one-pass scoring (checked once, cached)."""
    ok = getattr(llm, "_layerbridge_fast_head", None)
    if ok is None:
        ids = torch.tensor([[1, 2, 3]], device=llm.get_input_embeddings().weight.device)
        try:
            base = llm.base_model
            hidden = base(input_ids=ids).last_hidden_state[0]
            ok = base is not llm and torch.allclose(lm_head_logits(llm, hidden).float(),
                                                    llm(input_ids=ids).logits[0].float(), rtol=1e-3, atol=1e-3)
            # the one-pass scoring's tree mask must be honoured (flash attention ignores custom masks) and must be
            # the whole story: full and sliding-window layers are built here; other kinds (chunked, ...) are not
            cfg = llm.config
            types = set(getattr(cfg, "layer_types", None) or [])
            ok = ok and getattr(cfg, "_attn_implementation", None) in ("sdpa", "eager") and (
                types <= {"full_attention", "sliding_attention"} if types else not getattr(cfg, "sliding_window", None))
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


def tree_mask(mask: torch.Tensor, group: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Which key each query may attend to in [prompt; choice tokens side by side]: bool [B, Q, K], Q = K = P + E.

    mask [B, P] (1 = real prompt token); group [E] = the choice of each appended token, offset [E] = its index
    within that choice. A prompt token sees the real prompt tokens up to itself; an appended token sees every real
    prompt token and the earlier tokens of its own choice; padding sees only itself (no all-masked rows)."""
    B, P = mask.shape
    E, dev = group.shape[0], mask.device
    idx = torch.arange(P + E, device=dev)
    g = torch.cat([torch.full((P,), -1, device=dev), group])                   # -1 = prompt
    o = torch.cat([idx[:P], offset])
    q_prompt, k_prompt = g[:, None] < 0, g[None, :] < 0
    allowed = (q_prompt & k_prompt & (idx[None] <= idx[:, None])) | (~q_prompt & k_prompt) \
        | (~q_prompt & (g[:, None] == g[None, :]) & (o[None] <= o[:, None]))  # [Q, K]
    keys = torch.cat([mask.bool(), torch.ones(B, E, dtype=torch.bool, device=dev)], 1)   # [B, K]
    return (allowed[None] & keys[:, None]) | torch.eye(P + E, dtype=torch.bool, device=dev)[None]


@torch.no_grad()
def score_choices(llm, embeds: torch.Tensor, mask: torch.Tensor, choice_ids: list[list[int]]):
    """Log-likelihood of each choice's tokens after each prompt.

    embeds [B, P, D] left-padded prompt embeddings, mask [B, P]; choice_ids: C lists of token ids.
    Returns (loglik_sum [B, C], token_counts [C]) in float32.

    ONE backbone pass (no LM head) over [prompt; every choice's tokens but its last, side by side], with a tree
    attention mask (`tree_mask`) and position ids that continue the prompt for each choice: the weights are read
    once, as for the prompt alone. Then ONE LM-head matmul over exactly the scored positions (the prompt's last
    one + each appended token, which predicts the next token of its choice).
    """
    if not fast_head_ok(llm):
        return score_choices_per_forward(llm, embeds, mask, choice_ids)
    B, P = mask.shape
    dev = mask.device
    lengths = torch.tensor([len(c) for c in choice_ids], device=dev)
    first_ids = torch.tensor([c[0] for c in choice_ids], device=dev)                  # [C]
    slots = [(c, j) for c, toks in enumerate(choice_ids) for j in range(len(toks) - 1)]
    E = len(slots)
    group = torch.tensor([c for c, _ in slots], dtype=torch.long, device=dev)          # [E]
    offset = torch.tensor([j for _, j in slots], dtype=torch.long, device=dev)         # [E]
    inputs = torch.tensor([choice_ids[c][j] for c, j in slots], dtype=torch.long, device=dev)
    targets = torch.tensor([choice_ids[c][j + 1] for c, j in slots], dtype=torch.long, device=dev)

    x = torch.cat([embeds, llm.get_input_embeddings()(inputs).to(embeds.dtype)[None].expand(B, E, -1)], 1)
    pos = torch.cat([positions(mask), mask.sum(1, keepdim=True) + offset[None]], 1)   # [B, P + E]
    allowed = tree_mask(mask, group, offset)                                            # [B, Q, K]
    additive = lambda a: torch.zeros(a.shape, dtype=x.dtype, device=dev).masked_fill(  # noqa: E731
        ~a, torch.finfo(x.dtype).min)[:, None]                                          # [B, 1, Q, K]
    attention = additive(allowed)
    layer_types = getattr(llm.config, "layer_types", None)
    if layer_types:  # per layer type (Gemma 3: sliding-window layers see only the last `sliding_window` positions)
        near = (pos[:, :, None] - pos[:, None, :]) < (getattr(llm.config, "sliding_window", None) or pos.shape[1] + 1)
        attention = {t: additive(allowed & near) if t == "sliding_attention" else attention for t in set(layer_types)}
    hidden = llm.base_model(inputs_embeds=x, attention_mask=attention, position_ids=pos,
                            use_cache=False).last_hidden_state                         # [B, P + E, D]
    rows = torch.cat([hidden[:, P - 1], hidden[:, P:].reshape(B * E, hidden.shape[-1])])  # [B + B*E, D]
    logp = F.log_softmax(lm_head_logits(llm, rows).float(), dim=-1)                     # [B + B*E, V]
    scores = logp[:B][:, first_ids]                                                     # [B, C]
    if E:
        rest = logp[B:].view(B, E, -1).gather(-1, targets[None, :, None].expand(B, E, 1))[..., 0]  # [B, E]
        scores = scores.index_add(1, group, rest)
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
