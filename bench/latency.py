"""Classification latency: `classify` on ONE input of 64 encoder tokens with the 3 XNLI labels, against the floor
= one encoder forward + one LLM backbone forward (no LM head) over the soft prompt. Bar: <= 1.15x the floor.

Also shown: the naive way (a full forward with the full LM head per choice), and where classify's time goes
(forward hooks on the encoder, the bridge, the LLM backbone and the LM head during classify calls).

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

    from eval.tasks import get_task
    from fusion import FusedModel
    from fusion.scoring import positions

    header(f"Classification latency ({args.preset}, {args.strategy}, {N_TOKENS} encoder tokens, 3 choices)", device)
    model = FusedModel.from_preset(args.preset, strategy=args.strategy, device=device, dtype=torch.float32)
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
        model.classify([text], choices)

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

    from fusion.scoring import lm_head_logits

    @torch.no_grad()
    def floor_head():  # the floor + the LM head and log-softmax at ONE position (what any exact scorer must read)
        model.encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask, output_hidden_states=True)
        h = model.llm.base_model(inputs_embeds=prompt.embeds, attention_mask=prompt.mask,
                                 position_ids=positions(prompt.mask), use_cache=False).last_hidden_state
        F.log_softmax(lm_head_logits(model.llm, h[:, -1]).float(), -1)

    times = interleaved(dict(classify=classify, floor=floor, floor_head=floor_head, naive=naive), args.reps, device,
                        cap=dict(naive=args.naive_reps))
    med = {k: median_ms(v) for k, v in times.items()}
    ratio = med["classify"] / med["floor"]
    paired = statistics.median(c / f for c, f in zip(times["classify"], times["floor"]))

    # where the time goes: hooks on the modules during separate classify / floor calls
    timer = CallTimer(device, encoder=model.encoder, bridge=model.bridge, backbone=model.llm.base_model,
                      lm_head=model.llm.get_output_embeddings())
    parts = {k: [] for k in ("total", "encoder", "bridge", "LLM backbone", "LM head matmul", "other")}
    floor_parts = {k: [] for k in ("total", "encoder", "backbone")}
    backbone_calls = set()
    for _ in range(max(3, args.reps // 2)):
        timer.reset()
        total = common.timed(classify, device)
        c = timer.calls
        backbone_calls.add(len(c["backbone"]))
        row = dict(total=total, encoder=sum(c["encoder"]), bridge=sum(c["bridge"]),
                   **{"LLM backbone": sum(c["backbone"]), "LM head matmul": sum(c["lm_head"])})
        row["other"] = total - sum(v for k, v in row.items() if k != "total")
        for k, v in row.items():
            parts[k].append(v)
        timer.reset()
        total = common.timed(floor, device)
        c = timer.calls
        for k, v in dict(total=total, encoder=sum(c["encoder"]), backbone=sum(c["backbone"])).items():
            floor_parts[k].append(v)
    timer.remove()

    print()
    print(table([["floor: encoder + LLM backbone (no LM head)", f"{med['floor']:.1f}", "1.00"],
                 ["classify (one pass, LM head at scored positions)", f"{med['classify']:.1f}", f"{ratio:.3f}"],
                 ["(info) floor + LM head and log-softmax at 1 position", f"{med['floor_head']:.1f}",
                  f"{med['floor_head'] / med['floor']:.3f}"],
                 ["naive: full forward + full LM head per choice", f"{med['naive']:.1f}",
                  f"{med['naive'] / med['floor']:.3f}"]],
                ["what", "median ms", "x floor"]))
    print(f"\n(rounds: {args.reps}, naive in {min(args.naive_reps, args.reps)}; median of per-round ratios "
          f"classify/floor: {paired:.3f}; classify / (floor + 1 head row): {med['classify'] / med['floor_head']:.3f})")
    f_med = {k: median_ms(v) for k, v in floor_parts.items()}
    p_med = {k: median_ms(v) for k, v in parts.items()}
    rows = [[k, f"{v:.1f}", f"{100 * v / p_med['total']:.0f}%"] for k, v in p_med.items()]
    print(f"\nWhere classify's time goes (hooked calls, medians; LLM backbone calls per classify: "
          f"{sorted(backbone_calls)}; 'other' = tokenization, log-softmax over the vocabulary, result dicts, Python):")
    print(table(rows, ["part", "median ms", "share"]))
    print(f"\nfloor parts (same hooks): encoder {f_med['encoder']:.1f} ms, backbone {f_med['backbone']:.1f} ms, "
          f"total {f_med['total']:.1f} ms")
    print(f"classify - floor = {p_med['total'] - f_med['total']:.1f} ms: bridge {p_med['bridge']:.1f}, LM head "
          f"{p_med['LM head matmul']:.1f}, other {p_med['other']:.1f}, backbone vs the floor's "
          f"{p_med['LLM backbone'] - f_med['backbone']:+.1f}, encoder vs the floor's "
          f"{p_med['encoder'] - f_med['encoder']:+.1f}")
    print()
    raise SystemExit(verdict("classify latency / floor", ratio, BAR, higher_is_better=False))


if __name__ == "__main__":
    main()
