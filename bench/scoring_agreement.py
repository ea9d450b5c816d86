"""The two scorings of `classify` side by side on the shared benchmark samples: "loglik" (exact summed
log-likelihoods, lm-evaluation-harness's multiple-choice acc) and "constrained" (decoding restricted to the labels:
head rows of the candidate tokens only). Per model and task: accuracy under each, the share of examples where the
two predict the same label, and examples/s of each (classify calls only, batch 16, one run, interleaved per task).

No bar: this is the evidence for using "constrained" where speed and memory matter (the app, bench/latency.py).

    .venv/bin/python bench/scoring_agreement.py              # pocket: the bridges in checkpoints/ + the plain LLM
    .venv/bin/python bench/scoring_agreement.py --preset tiny --limit 4
"""
import time
from pathlib import Path

import torch

import common
from common import BENCHDATA, REPO, header, parser, setup, table

TASKS = {"xnli": ("nli", 20), "sinhala_news": ("news", 100), "amazon_reviews": ("sentiment", 20)}


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, help="examples per language (default: xnli 20, sinhala_news 100, "
                                              "amazon_reviews 20)")
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args()
    device = setup(args)

    from eval.classification import ClassificationEvaluation, load_examples
    from fusion import FusedModel, PlainLLM, strategy_names
    from layerbridge_app.registry import BridgeKey, find_checkpoints
    from tasks import get_task

    header(f"Scorings compared: loglik vs constrained ({args.preset})", device)
    base = FusedModel.from_preset(args.preset, device=device, dtype=args.precision)
    rows, same_all, n_all = [], 0, 0
    for task_name, (family, default_limit) in TASKS.items():
        task = get_task(task_name)
        languages = ClassificationEvaluation(task).default_languages(BENCHDATA)
        examples, _ = load_examples(task, languages, BENCHDATA, args.limit or default_limit)
        prompts, gold = [e["prompt"] for e in examples], [e["gold"] for e in examples]   # as evaluate() selects them
        models = {"plain LLM": PlainLLM(base.llm, base.llm_tokenizer, base.config.llm)}
        trained = find_checkpoints(REPO / "checkpoints", args.preset, families=[family])   # seed 0, the task's own data
        for strategy in strategy_names():
            ckpt = trained.get(BridgeKey(family, strategy))
            models[strategy] = (FusedModel.from_pretrained(ckpt, device=device, backbones=base) if ckpt
                                else FusedModel.from_preset(args.preset, strategy=strategy, device=device))
        for name, model in models.items():
            preds, seconds = {}, {}
            for scoring in ("loglik", "constrained"):
                t0 = time.perf_counter()
                out = model.classify(prompts, task.targets, batch_size=args.batch_size, scoring=scoring)
                seconds[scoring] = time.perf_counter() - t0
                preds[scoring] = [o["pred"] for o in out]
            acc = {s: 100 * sum(p == g for p, g in zip(v, gold)) / len(gold) for s, v in preds.items()}
            same = sum(a == b for a, b in zip(preds["loglik"], preds["constrained"]))
            same_all, n_all = same_all + same, n_all + len(gold)
            rate = {s: len(gold) / t for s, t in seconds.items()}
            rows.append([task_name, name, len(gold), f"{acc['loglik']:.1f}", f"{acc['constrained']:.1f}",
                         f"{same}/{len(gold)}", f"{rate['loglik']:.1f}", f"{rate['constrained']:.1f}",
                         f"{rate['constrained'] / rate['loglik']:.2f}x"])
            print(" | ".join(map(str, rows[-1])), flush=True)
    print()
    print(table(rows, ["task", "model", "n", "acc % loglik", "acc % constrained", "same decisions",
                       "ex/s loglik", "ex/s constrained", "speed-up"]))
    print(f"\nRESULT same decisions, loglik vs constrained: {100 * same_all / n_all:.1f}% of {n_all} (no bar)")


if __name__ == "__main__":
    main()
