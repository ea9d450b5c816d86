"""Scoring choices after a prompt given as input embeddings, shared by the fused model and the plain-LLM baseline.

Two scorings (`SCORINGS`):
- "loglik": each choice's summed log-likelihood under the LLM (lm-evaluation-harness's multiple-choice `acc`).
  Exact log-probabilities need the log-normalizer over the whole vocabulary at every scored position: Gemma's
  262k x 640 head is read once per batch, in vocabulary chunks, for all scored positions together.
- "constrained": the probability of each choice when, at every step, the LLM's next token is restricted to the
  tokens that continue some choice (constrained decoding): a product of softmaxes over the choices' token trie,
  taken only where the trie branches. It needs the head rows of the candidate tokens only, never the vocabulary,
  and the backbone only up to the last branching token (none when the first tokens differ, as for XNLI's labels).
  A proper distribution over the choices; decisions almost always match "loglik" (measured in bench/RESULTS.md).

Both run ONE backbone pass over [prompt; the needed choice tokens side by side] with a tree attention mask.
"""
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .filerows import head_rows

SCORINGS = ("loglik", "constrained")
SCORER_VERSION = 3  # bumped when the scores' numerics change (2: chosen-token logits in float32; 3: the vocabulary
                    # log-normalizer's largest logits in float32); predictions of another version are not resumed
                    # (eval.predictions.run_signature)
EXACT_TOP = 32  # per vocabulary chunk and row: logits the bfloat16 normalizer recomputes in float32 (head_logsumexp)
VOCAB_CHUNK = 16384  # LM-head rows per step of the streaming log-normalizer: [N, 16384] floats at a time
CHECK_ROWS = 1024    # head rows fast_head_ok checks the model's own logits on


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


def check_scoring(scoring: str) -> str:
    if scoring not in SCORINGS:
        raise InputError(f"unknown scoring {scoring!r}; choose one of {', '.join(SCORINGS)}")
    return scoring


def choice_token_ids(tokenizer, choices: list[str], scoring: str) -> list[list[int]]:
    """The choices' LLM token ids, checked for `scoring` before any model work."""
    check_scoring(scoring)
    ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
    if any(len(c) == 0 for c in ids):
        raise InputError("a choice tokenizes to nothing")
    if scoring == "constrained":
        branch_points(ids)
    return ids


# ---------------------------------------------------------------- the LM head, piecewise

def head_transform(llm, logits: torch.Tensor) -> torch.Tensor:
    """The output scalings transformers' causal LMs apply after the head (Gemma soft-capping, Cohere
    logit_scale, Granite logits_scaling); elementwise, so it applies to any slice of the logits."""
    cfg = llm.config
    if getattr(cfg, "logit_scale", None) is not None:
        logits = logits * cfg.logit_scale
    if getattr(cfg, "logits_scaling", None) is not None:
        logits = logits / cfg.logits_scaling
    cap = getattr(cfg, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return logits


def lm_head_logits(llm, hidden: torch.Tensor) -> torch.Tensor:
    """The full head on final hidden states [N, D] -> logits [N, V]."""
    return head_transform(llm, llm.get_output_embeddings()(hidden))


def head_logits_at(llm, hidden: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Logits of chosen tokens only: hidden [N, D], ids [K] -> [N, K], computed in float32 (K head rows are read):
    in bfloat16 a logit of Gemma's scale (10-30) is rounded to 0.06-0.125, enough to flip close choices."""
    head = llm.get_output_embeddings()
    logits = hidden.float() @ head_rows(head, ids).float().T
    if head.bias is not None:
        logits = logits + head.bias[ids].float()
    return head_transform(llm, logits)


def head_logsumexp(llm, hidden: torch.Tensor, chunk: int = VOCAB_CHUNK, exact_top: int = EXACT_TOP) -> torch.Tensor:
    """log sum_v exp(logit_v) per row: hidden [N, D] -> [N] float32, streamed over vocabulary chunks, so the head
    is read once and at most [N, chunk] logits exist at a time (not [N, V]: 84 MB for 80 rows of Gemma).

    With a bfloat16 head each chunk's logits come out rounded to 0.06-0.125 (at Gemma's scale of 10-30); where the
    labels' tokens sit at different positions their normalizers do not cancel, and that rounding flipped 5.8% of
    XNLI decisions against float32. So the `exact_top` largest logits of every chunk and row, which carry the
    normalizer, are recomputed in float32 from the same rows; the rest keep their rounded values (their errors are
    unbiased and their weights small). Upcasting the whole head instead costs 0.4 s per call (bench/RESULTS.md,
    section 7)."""
    head = llm.get_output_embeddings()
    running = torch.full((hidden.shape[0],), -float("inf"), device=hidden.device)
    for start in range(0, head.weight.shape[0], chunk):
        bias = head.bias[start:start + chunk] if head.bias is not None else None
        rows = head_rows(head, slice(start, start + chunk))                                  # [C, D]
        part = head_transform(llm, F.linear(hidden, rows, bias)).float()                     # [N, C]
        if rows.dtype != torch.float32:
            top = part.topk(min(exact_top, part.shape[1]), dim=-1).indices                   # [N, k]
            exact = torch.einsum("nd,nkd->nk", hidden.float(), rows[top].float())            # [N, k]
            if bias is not None:
                exact = exact + bias[top].float()
            part = part.scatter(1, top, head_transform(llm, exact))
        running = torch.logaddexp(running, torch.logsumexp(part, dim=-1))
    return running


# fast_head_ok's verdict per LLM, kept on our side (weak keys: an LLM that is dropped leaves no entry). Cached because
# the check runs the model: once per model, not once per classify call (the latency bars of bench/RESULTS.md)
_FAST_HEAD: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def fast_head_ok(llm) -> bool:
    """True when llm.base_model + a linear head (+ head_transform) give llm(...).logits for this model and its
    attention takes the custom mask of the one-pass scoring (checked once, cached).

    The check runs the model's own forward with its head cut to its first CHECK_ROWS rows (torch.func's
    functional_call; a tied input embedding is cut with it, the 3 ids lie inside): what is checked is what the model
    does after the head, and the whole head is never read (its mapped pages would count in the RSS for good)."""
    if llm not in _FAST_HEAD:
        ids = torch.tensor([[1, 2, 3]], device=llm.get_input_embeddings().weight.device)
        try:
            base, head = llm.base_model, llm.get_output_embeddings()
            names = {p: n for n, p in llm.named_parameters()}
            cut = {names[head.weight]: head.weight[:CHECK_ROWS]}                           # [K, D]
            if head.bias is not None:
                cut[names[head.bias]] = head.bias[:CHECK_ROWS]
            hidden = base(input_ids=ids).last_hidden_state[0]                              # [3, D]
            own = torch.func.functional_call(llm, cut, args=(), kwargs=dict(input_ids=ids)).logits[0]  # [3, K]
            ours = head_transform(llm, F.linear(hidden, *cut.values()))                   # [3, K]
            ok = base is not llm and isinstance(head, nn.Linear) and torch.allclose(
                ours.float(), own.float(), rtol=1e-3, atol=1e-3)
            # the tree mask must be the whole story: full and sliding-window layers are built here; other kinds
            # (chunked, ...) are not
            cfg = llm.config
            types = set(getattr(cfg, "layer_types", None) or [])
            ok = ok and (types <= {"full_attention", "sliding_attention"} if types
                         else not getattr(cfg, "sliding_window", None))
            ok = ok and honours_tree_mask(llm)
        except (AttributeError, TypeError, RuntimeError, KeyError, ValueError):
            ok = False
        _FAST_HEAD[llm] = bool(ok)
    return _FAST_HEAD[llm]


def honours_tree_mask(llm) -> bool:
    """Whether the LLM's attention follows tree_pass's custom mask (eager and SDPA do; flash attention ignores
    custom masks and attends causally). Checked on what it computes: the hidden state of a choice token must not
    change when another choice is laid out before it (the mask hides it), whereas reading that token as a prefix
    does change it."""
    emb = llm.get_input_embeddings()
    embeds = emb(torch.tensor([[1, 2]], device=emb.weight.device))                     # [1, 2, D]: a 2-token prompt
    mask = torch.ones(1, 2, dtype=torch.long, device=emb.weight.device)
    alone = tree_pass(llm, embeds, mask, [[3]])[0][0, -1].float()                     # [D]
    beside = tree_pass(llm, embeds, mask, [[2], [3]])[0][0, -1].float()                # hidden from [2]
    after = tree_pass(llm, embeds, mask, [[2, 3]])[0][0, -1].float()                   # reads [2] first
    return bool((beside - alone).norm() < 0.1 * (after - alone).norm())


# ---------------------------------------------------------------- the choices' token trie

def branch_points(choice_ids: list[list[int]]) -> dict[tuple, list[int]]:
    """{prefix: its distinct next tokens} for every prefix of the choices where they branch (2+ next tokens).
    Constrained scoring cannot tell "stop here" from "go on", so no choice may be a prefix of another."""
    nexts: dict[tuple, list[int]] = {}
    for toks in choice_ids:
        for d, t in enumerate(toks):
            kids = nexts.setdefault(tuple(toks[:d]), [])
            if t not in kids:
                kids.append(t)
    for toks in choice_ids:
        if tuple(toks) in nexts:
            raise InputError("constrained scoring needs choices of which none is a token prefix of another; "
                             "use scoring='loglik'")
    return {p: kids for p, kids in nexts.items() if len(kids) > 1}


def constrained_from_logits(choice_ids, branches, logits_at) -> torch.Tensor:
    """Sum over each choice's branch points of log softmax over that point's candidate tokens.
    logits_at(prefix, kids) -> [B, K] logits of the candidates after `prefix`. Returns [B, C]."""
    scores = None
    for prefix, kids in branches.items():
        logp = F.log_softmax(logits_at(prefix, kids), dim=-1)                      # [B, K]
        if scores is None:
            scores = logp.new_zeros(logp.shape[0], len(choice_ids))
        for c, toks in enumerate(choice_ids):
            if tuple(toks[:len(prefix)]) == prefix:
                scores[:, c] += logp[:, kids.index(toks[len(prefix)])]
    return scores


# ---------------------------------------------------------------- one backbone pass over a token tree

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


def tree_pass(llm, embeds: torch.Tensor, mask: torch.Tensor, appended: list[list[int]]):
    """Backbone (no head) over [prompt; appended[0]; appended[1]; ...], each appended sequence continuing the
    prompt on its own (tree mask, positions that continue the prompt).
    Returns final hidden states [B, P + E, D] and slots {(c, j): column of appended[c][j]}."""
    B, P = mask.shape
    dev = mask.device
    order = [(c, j) for c, toks in enumerate(appended) for j in range(len(toks))]
    slots = {cj: P + k for k, cj in enumerate(order)}
    group = torch.tensor([c for c, _ in order], dtype=torch.long, device=dev)          # [E]
    offset = torch.tensor([j for _, j in order], dtype=torch.long, device=dev)         # [E]
    inputs = torch.tensor([appended[c][j] for c, j in order], dtype=torch.long, device=dev)
    E = len(order)
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
    return hidden, slots


def per_choice_logits(llm, embeds: torch.Tensor, mask: torch.Tensor, toks: list[int]) -> torch.Tensor:
    """The model's own forward over [prompt; toks]: logits [B, len(toks), V], position j predicting toks[j]."""
    ids = torch.tensor(toks, device=mask.device)[None].expand(mask.shape[0], -1)       # [B, Lc]
    full_mask = torch.cat([mask, torch.ones_like(ids)], 1)
    x = torch.cat([embeds, llm.get_input_embeddings()(ids).to(embeds.dtype)], 1)
    return llm(inputs_embeds=x, attention_mask=full_mask, position_ids=positions(full_mask),
               logits_to_keep=len(toks) + 1).logits[:, :-1].float()


# ---------------------------------------------------------------- the two scorings

@torch.no_grad()
def score_choices(llm, embeds: torch.Tensor, mask: torch.Tensor, choice_ids: list[list[int]]):
    """Summed log-likelihood of each choice's tokens after each prompt.

    embeds [B, P, D] left-padded prompt embeddings, mask [B, P]; choice_ids: C lists of token ids.
    Returns (loglik_sum [B, C], token_counts [C]) in float32.

    ONE backbone pass over [prompt; every choice's tokens but its last] (`tree_pass`), then the head at exactly
    the scored positions (the prompt's last one + each appended token): the candidate rows' logits and one
    streamed log-normalizer per position.
    """
    dev = mask.device
    lengths = torch.tensor([len(c) for c in choice_ids], device=dev)
    if not fast_head_ok(llm):  # one forward per choice through the model's own head: same result, more compute
        scores = [F.log_softmax(per_choice_logits(llm, embeds, mask, toks), -1)
                  .gather(-1, torch.tensor(toks, device=dev)[None, :, None].expand(mask.shape[0], -1, 1))[..., 0]
                  .sum(-1) for toks in choice_ids]
        return torch.stack(scores, 1), lengths
    B, P = mask.shape
    hidden, slots = tree_pass(llm, embeds, mask, [toks[:-1] for toks in choice_ids])
    rest = [(c, j) for c, toks in enumerate(choice_ids) for j in range(len(toks) - 1)]
    rows = torch.cat([hidden[:, P - 1], *(hidden[:, slots[cj]] for cj in rest)])        # [B * (1 + E), D]
    lse = head_logsumexp(llm, rows).view(1 + len(rest), B)                              # [1 + E, B]
    first = torch.tensor([c[0] for c in choice_ids], device=dev)
    scores = head_logits_at(llm, hidden[:, P - 1], first) - lse[0][:, None]            # [B, C]
    for k, (c, j) in enumerate(rest):
        target = torch.tensor([choice_ids[c][j + 1]], device=dev)
        scores[:, c] += head_logits_at(llm, hidden[:, slots[(c, j)]], target)[:, 0] - lse[1 + k]
    return scores, lengths


@torch.no_grad()
def score_constrained(llm, embeds: torch.Tensor, mask: torch.Tensor, choice_ids: list[list[int]]) -> torch.Tensor:
    """log P(choice) under constrained decoding (module docstring): [B, C] float32, logsumexp over C = 0.
    The backbone sees each choice only up to its last branch point; the head only the candidates' rows."""
    branches = branch_points(choice_ids)
    B, C = mask.shape[0], len(choice_ids)
    if not branches:  # a single choice
        return torch.zeros(B, C, device=mask.device)
    if not fast_head_ok(llm):
        full = [per_choice_logits(llm, embeds, mask, toks) for toks in choice_ids]    # [B, Lc, V] each
        owner = {tuple(t[:d]): (c, d) for c, t in reversed(list(enumerate(choice_ids))) for d in range(len(t))}
        at = lambda prefix, kids: full[owner[prefix][0]][:, owner[prefix][1], kids]  # noqa: E731
        return constrained_from_logits(choice_ids, branches, at)
    P = mask.shape[1]
    depth = [max((len(p) for p in branches if tuple(t[:len(p)]) == p), default=0) for t in choice_ids]
    hidden, slots = tree_pass(llm, embeds, mask, [t[:d] for t, d in zip(choice_ids, depth)])
    # the hidden state after `prefix`: the prompt's last position, or prefix's last token in a choice that has it
    column = {(): P - 1}
    for c, t in enumerate(choice_ids):
        for j in range(depth[c]):
            column.setdefault(tuple(t[:j + 1]), slots[(c, j)])
    at = lambda prefix, kids: head_logits_at(  # noqa: E731
        llm, hidden[:, column[prefix]], torch.tensor(kids, device=mask.device))
    return constrained_from_logits(choice_ids, branches, at)


def score(llm, embeds, mask, choice_ids, choices: list[str], scoring: str) -> list[dict]:
    """Per prompt: choices, scoring, probs over the choices, pred, label; "loglik" adds loglik (sum),
    loglik_mean and pred_norm (the argmax of the per-token mean)."""
    if check_scoring(scoring) == "loglik":
        loglik, counts = score_choices(llm, embeds, mask, choice_ids)
        mean = loglik / counts[None].to(loglik.dtype)
        probs = torch.softmax(loglik, dim=-1)
    else:
        probs = score_constrained(llm, embeds, mask, choice_ids).exp()
    out = []
    for i in range(probs.shape[0]):
        pred = int(probs[i].argmax())
        row = dict(choices=list(choices), scoring=scoring, probs=probs[i].tolist(), pred=pred, label=choices[pred])
        if scoring == "loglik":
            row.update(loglik=loglik[i].tolist(), loglik_mean=mean[i].tolist(), pred_norm=int(mean[i].argmax()))
        out.append(row)
    return out
