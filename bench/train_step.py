"""Training step: one fused training step (forward + backward + AdamW step of the bridge; batch 8 of English NLI
training examples, the preset's encoder length) against the floor = a plain LLM training step on `inputs_embeds`
of the same shape (a trainable [8, P + T, D] tensor; loss on the same target positions, logits only there; the
frozen LLM is back-propagated through in both). Bar: <= 1.25x.

    .venv/bin/python bench/train_step.py                  # pocket preset, CPU, 2 threads
    .venv/bin/python bench/train_step.py --preset tiny --reps 3
"""
import random
import statistics

import torch
import torch.nn.functional as F

import common
from common import BENCHDATA, header, interleaved, median_ms, parser, setup, table, verdict

BAR = 1.25


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--strategy", default="transformer-softmax")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--batches", type=int, default=3, help="distinct batches, used in turn")
    p.add_argument("--reps", type=int, default=9, help="interleaved timed rounds")
    args = p.parse_args()
    device = setup(args)

    from tasks.data import load_train
    from tasks import get_task
    from fusion import FusedModel
    from fusion.scoring import positions

    header(f"Training step ({args.preset}, {args.strategy}, batch {args.batch_size})", device)
    task = get_task("xnli")
    rows = load_train(task, data_dir=BENCHDATA)
    rng = random.Random(0)
    batches = [rng.sample(rows, args.batch_size) for _ in range(args.batches)]
    batches = [([task.prompt(r) for r in b], [task.targets[r["label"]] for r in b]) for b in batches]

    model = FusedModel.from_preset(args.preset, strategy=args.strategy, device=device, dtype=args.precision)
    model.train()
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)

    # the floor's inputs: the same shapes, masks and target positions as the fused model's LLM input
    floors = []
    for texts, targets in batches:
        with torch.no_grad():
            prompt = model.soft_prompt(texts)
            ids, tmask = model.target_ids(targets)
            embeds = torch.cat([prompt.embeds, model.llm.get_input_embeddings()(ids)], 1)
        mask = torch.cat([prompt.mask, tmask], 1)
        P, Tt = prompt.mask.shape[1], ids.shape[1]
        leaf = torch.nn.Parameter(embeds.detach().clone())
        keep = torch.arange(P - 1, P + Tt - 1, device=device)
        floors.append(dict(embeds=leaf, mask=mask, pos=positions(mask), keep=keep,
                           labels=ids.masked_fill(tmask == 0, -100), opt=torch.optim.AdamW([leaf], lr=1e-4),
                           shape=tuple(embeds.shape)))
    print("LLM input per batch [B, P + T, D]: " + ", ".join(str(f["shape"]) for f in floors))

    turn = {"fused": 0, "floor": 0}

    def fused_step():
        texts, targets = batches[turn["fused"] % len(batches)]
        turn["fused"] += 1
        loss = model(texts, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
        opt.step()
        opt.zero_grad()

    def floor_step():
        f = floors[turn["floor"] % len(floors)]
        turn["floor"] += 1
        out = model.llm(inputs_embeds=f["embeds"], attention_mask=f["mask"], position_ids=f["pos"],
                        logits_to_keep=f["keep"], use_cache=False)
        loss = F.cross_entropy(out.logits.float().flatten(0, 1), f["labels"].flatten(), ignore_index=-100)
        loss.backward()
        f["opt"].step()
        f["opt"].zero_grad()

    # whole cycles over the batches, both sides in the same order
    reps = max(len(batches), args.reps - args.reps % len(batches))
    times = interleaved(dict(fused=fused_step, floor=floor_step), reps, device, warmup=len(batches))
    med = {k: median_ms(v) for k, v in times.items()}
    ratio = med["fused"] / med["floor"]
    per_batch = [statistics.median(times["fused"][i::len(batches)]) / statistics.median(times["floor"][i::len(batches)])
                 for i in range(len(batches))]
    print()
    print(table([["floor: LLM step on trainable inputs_embeds", f"{med['floor']:.0f}", "1.00"],
                 ["fused step: encoder + bridge + LLM, backward, AdamW", f"{med['fused']:.0f}", f"{ratio:.3f}"]],
                ["what", "median ms", "x floor"]))
    print(f"\n(rounds: {reps}; ratio per batch: {', '.join(f'{r:.3f}' for r in per_batch)}; "
          f"trainable parameters: {model.num_trainable_parameters():,})")
    print()
    raise SystemExit(verdict("fused training step / LLM-only step", ratio, BAR, higher_is_better=False))


if __name__ == "__main__":
    main()
