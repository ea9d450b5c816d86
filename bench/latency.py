"""Classification latency: `classify` on ONE input of 64 encoder tokens with the 3 XNLI labels, against the floor
= one encoder forward + one LLM backbone forward (no LM head) over the soft prompt. Bar: <= 1.15x the floor, for
classify's "constrained" scoring (labels scored under decoding restricted to them: the candidate tokens' head rows
only). Also measured: "loglik" scoring (exact log-likelihoods: the vocabulary-wide normalizer at every scored
position), the floor + the LM head at one position (what any exact log-likelihood must read), and the naive way
(a full forward with the full LM head per choice); and where classify's time goes (hooks and wrappers on the
encoder, the bridge, the LLM backbone and the LM-head functions of fusion.scoring). Everything runs in --precision
(auto: bfloat16 where the CPU computes it); the same classify with the backbones in the other precision (float32
<-> bfloat16, the same bridge) is timed in the same rounds, for the latency ratio between the two.

    .venv/bin/python bench/latency.py                  # pocket preset, CPU, 2 threads
    .venv/bin/python bench/latency.py --preset tiny --reps 3
"""
import statistics

import torch
import torch.nn.functional as F

import common  # noqa: F401  (sets sys.path, offline env)
from common import CallTimer, header, interleaved, median_ms, parser, setup, table, text_of_length, verdict

BAR = 1.15
N_TOKENS = 64


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--strategy", default="transformer-softmax")
    p.add_argument("--reps", type=int, default=21, help="interleaved timed rounds")
    p.add_argument("--naive-reps", type=int, default=5, help="rounds that also time the (slow) naive way")
    args = p.parse_args()
    device = setup(args)

    from tasks import get_task
    from fusion import FusedModel
    from fusion.scoring import positions

    header(f"Classification latency ({args.preset}, {args.strategy}, {args.precision}, {N_TOKENS} encoder tokens, "
           f"3 choices)", device)
    model = FusedModel.from_preset(args.preset, strategy=args.strategy, device=device, dtype=args.precision)
    other_precision = "float32" if args.precision == "bfloat16" else "bfloat16"
    other = FusedModel.from_preset(args.preset, strategy=args.strategy, device=device, dtype=other_precision)
    other.bridge.load_state_dict(model.bridge.state_dict())
    choices = get_task("xnli").targets
    text = text_of_length(model.encoder_tokenizer, N_TOKENS, prefix=model.config.encoder_text_prefix)
    enc = model.encode([text])
    assert enc.input_ids.shape[1] == N_TOKENS and not enc.truncated[0], enc.input_ids.shape
    with torch.no_grad():
        prompt = model.soft_prompt([text])
    choice_ids = [model.llm_tokenizer(c, add_special_tokens=False)["input_ids"] for c in choices]
    P = prompt.mask.shape[1]
    print(f"input: {N_TOKENS} encoder tokens -> soft prompt of {P} LLM positions; choices {choices} -> "
          f"{[len(c) for c in choice_ids]} LLM tokens")

    @torch.no_grad()
    def classify():
        model.classify([text], choices, scoring="constrained")

    @torch.no_grad()
    def classify_other():
        other.classify([text], choices, scoring="constrained")

    @torch.no_grad()
    def classify_loglik():
        model.classify([text], choices, scoring="loglik")

    @torch.no_grad()
    def floor():
        model.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask, output_hidden_states=True)
        model.llm.base_model(inputs_embeds=prompt.embeds, attention_mask=prompt.mask,
                             position_ids=positions(prompt.mask), use_cache=False)

    emb = model.llm.get_input_embeddings()

    @torch.no_grad()
    def naive():  # the soft prompt once, then per choice a full forward with the LM head at every position
        sp = model.soft_prompt([text])
        out = []
        for ids in choice_ids:
            ids = torch.tensor([ids], device=device)
            embeds = torch.cat([sp.embeds, emb(ids)], 1)
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=device)
            logits = model.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask)).logits
            logp = F.log_softmax(logits[0, P - 1:-1].float(), -1)
            out.append(logp.gather(-1, ids[0][:, None]).sum().item())
        return out

    from fusion.scoring import head_logsumexp

    @torch.no_grad()
    def floor_head():  # the floor + the log-normalizer at ONE position (what any exact log-likelihood reads)
        model.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask, output_hidden_states=True)
        h = model.llm.base_model(inputs_embeds=prompt.embeds, attention_mask=prompt.mask,
                                 position_ids=positions(prompt.mask), use_cache=False).last_hidden_state
        head_logsumexp(model.llm, h[:, -1])

    times = interleaved(dict(classify=classify, classify_loglik=classify_loglik, floor=floor, floor_head=floor_head,
                             naive=naive, classify_other=classify_other), args.reps, device,
                        cap=dict(naive=args.naive_reps))
    med = {k: median_ms(v) for k, v in times.items()}
    ratio = med["classify"] / med["floor"]
    paired = statistics.median(c / f for c, f in zip(times["classify"], times["floor"]))
    same = [model.classify([text], choices, scoring=s)[0]["label"] for s in ("constrained", "loglik")]

    # where the time goes: hooks on the modules and wrappers on the head functions during separate calls
    import fusion.scoring as scoring
    timer = CallTimer(device, encoder=model.encoder, bridge=model.bridge, backbone=model.llm.base_model)
    timer.wrap(scoring, "head_logits_at", "head_rows")
    timer.wrap(scoring, "head_logsumexp", "head_normalizer")
    names = ("total", "encoder", "bridge", "LLM backbone", "LM head: candidate rows", "LM head: vocabulary normalizer",
             "other")
    parts = {mode: {k: [] for k in names} for mode in ("constrained", "loglik")}
    floor_parts = {k: [] for k in ("total", "encoder", "backbone")}
    backbone_calls = set()
    for _ in range(max(3, args.reps // 2)):
        for mode, fn in (("constrained", classify), ("loglik", classify_loglik)):
            timer.reset()
            total = common.timed(fn, device)
            c = timer.calls
            backbone_calls.add(len(c["backbone"]))
            row = dict(zip(names[1:-1], (sum(c["encoder"]), sum(c["bridge"]), sum(c["backbone"]),
                                         sum(c["head_rows"]), sum(c["head_normalizer"]))), total=total)
            row["other"] = total - sum(v for k, v in row.items() if k != "total")
            for k, v in row.items():
                parts[mode][k].append(v)
        timer.reset()
        total = common.timed(floor, device)
        c = timer.calls
        for k, v in dict(total=total, encoder=sum(c["encoder"]), backbone=sum(c["backbone"])).items():
            floor_parts[k].append(v)
    timer.remove()

    print()
    print(table([["floor: encoder + LLM backbone (no LM head)", f"{med['floor']:.1f}", "1.00"],
                 ["**classify, constrained scoring** (the bar)", f"{med['classify']:.1f}", f"{ratio:.3f}"],
                 ["classify, loglik scoring (exact log-likelihoods)", f"{med['classify_loglik']:.1f}",
                  f"{med['classify_loglik'] / med['floor']:.3f}"],
                 ["(info) floor + LM head and log-normalizer at 1 position", f"{med['floor_head']:.1f}",
                  f"{med['floor_head'] / med['floor']:.3f}"],
                 ["naive: full forward + full LM head per choice", f"{med['naive']:.1f}",
                  f"{med['naive'] / med['floor']:.3f}"],
                 [f"(info) classify, constrained, backbones in {other_precision}", f"{med['classify_other']:.1f}",
                  f"{med['classify_other'] / med['floor']:.3f}"]],
                ["what", "median ms", "x floor"]))
    print(f"\n(rounds: {args.reps}, naive in {min(args.naive_reps, args.reps)}; median of per-round ratios "
          f"classify/floor: {paired:.3f}; labels predicted: constrained {same[0]!r}, loglik {same[1]!r})")
    fp32, bf16 = ("classify_other", "classify") if args.precision == "bfloat16" else ("classify", "classify_other")
    print(f"latency float32 / bfloat16 (classify, constrained; medians): {med[fp32] / med[bf16]:.2f}x")
    f_med = {k: median_ms(v) for k, v in floor_parts.items()}
    p_med = {mode: {k: median_ms(v) for k, v in d.items()} for mode, d in parts.items()}
    rows = [[k, f"{p_med['constrained'][k]:.1f}", f"{p_med['loglik'][k]:.1f}"] for k in names]
    print(f"\nWhere classify's time goes (medians, ms; LLM backbone calls per classify: {sorted(backbone_calls)}; "
          f"'other' = tokenization, softmaxes over the choices, result dicts, Python):")
    print(table(rows, ["part", "constrained", "loglik"]))
    print(f"\nfloor parts (same hooks): encoder {f_med['encoder']:.1f} ms, backbone {f_med['backbone']:.1f} ms, "
          f"total {f_med['total']:.1f} ms")
    print()
    raise SystemExit(verdict(f"classify latency / floor ({args.precision})", ratio, BAR, higher_is_better=False))


if __name__ == "__main__":
    main()
