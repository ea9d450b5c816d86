"""Evaluation throughput on 300 XNLI test examples (20 of each of the 15 languages, as load_test selects them),
measured in ONE run:

- ours: `eval.runner.evaluate(model, "xnli", ...)` (batch 16, shared-prefix scoring) with the plain LLM
  (`PlainLLM.from_name(preset)`) and with a fused model;
- naive: one example at a time, one full forward per choice with the full LM head (batch 1), for the plain LLM
  and the fused model, on every 10th of the 300 examples (30; it is slow);
- lm-evaluation-harness (`lm_eval`, pinned in requirements-bench.txt) with its HF model on the same plain
  checkpoint (pretrained=<the cached plain Gemma dir>, float32, CPU, batch 16) and the same 300 examples, prompt
  and choices, as a local multiple_choice task written to a temp dir; fully offline.

Bars: ours >= 3x the naive loop's examples/s; ours (plain) >= 1.5x lm-evaluation-harness's examples/s, with the
plain-LLM accuracy equal to lm-evaluation-harness's within 0.5 points (decisions computed independently).

    .venv/bin/python bench/eval_throughput.py                 # pocket, ~15-20 min on 2 CPU cores
    .venv/bin/python bench/eval_throughput.py --preset tiny --per-language 2 --naive-every 5
"""
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import common
from common import BENCHDATA, header, parser, setup, table, verdicts, xnli_rows

NAIVE_BAR, HARNESS_BAR, ACC_TOLERANCE = 3.0, 1.5, 0.5
TASK_NAME = "layerbridge_xnli_bench"


# ---------------------------------------------------------------- naive loops

@torch.no_grad()
def naive_plain(plain, prompts, targets):
    """Per example and choice: [BOS] + prompt + choice tokens, one full forward, log-softmax at every position."""
    tok, llm, preds = plain.llm_tokenizer, plain.llm, []
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    target_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in targets]
    for prompt in prompts:
        ctx = bos + tok(prompt, add_special_tokens=False)["input_ids"]
        scores = []
        for ids in target_ids:
            x = torch.tensor([ctx + ids], device=plain.device)
            logp = F.log_softmax(llm(input_ids=x).logits[0].float(), -1)        # [T, V]
            scores.append(logp[len(ctx) - 1:-1].gather(-1, x[0, len(ctx):, None]).sum().item())
        preds.append(max(range(len(scores)), key=scores.__getitem__))
    return preds


@torch.no_grad()
def naive_fused(model, prompts, targets):
    """Per example: the soft prompt, then per choice one full forward with the LM head at every position."""
    from fusion.scoring import positions
    emb, preds = model.llm.get_input_embeddings(), []
    target_ids = [model.llm_tokenizer(t, add_special_tokens=False)["input_ids"] for t in targets]
    for prompt in prompts:
        sp = model.soft_prompt([prompt])
        P, scores = sp.mask.shape[1], []
        for ids in target_ids:
            ids = torch.tensor([ids], device=model.device)
            embeds = torch.cat([sp.embeds, emb(ids)], 1)
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=model.device)
            logits = model.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask)).logits
            logp = F.log_softmax(logits[0].float(), -1)
            scores.append(logp[P - 1:-1].gather(-1, ids[0][:, None]).sum().item())
        preds.append(max(range(len(scores)), key=scores.__getitem__))
    return preds


# ---------------------------------------------------------------- our evaluation runner

class CallClock:
    """Seconds spent inside obj.<method> (wrapped on the instance while in use): the model-call share."""

    def __init__(self, obj, method: str):
        self.obj, self.method, self.seconds = obj, method, 0.0

    def __enter__(self):
        inner = getattr(self.obj, self.method)

        def wrapped(*args, **kwargs):
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
        setattr(self.obj, self.method, wrapped)
        return self

    def __exit__(self, *exc):
        delattr(self.obj, self.method)


def run_ours(model, languages, per_language, batch_size):
    """evaluate() as the harness runs it; returns (seconds, accuracy, {(lang, id): predicted index},
    seconds inside model.classify)."""
    from eval.runner import evaluate
    with tempfile.TemporaryDirectory() as out, CallClock(model, "classify") as clock:  # fresh dir: no resuming
        t = time.perf_counter()
        r = evaluate(model, "xnli", languages=languages, data_dir=str(BENCHDATA), limit=per_language,
                     output_dir=out, batch_size=batch_size, progress=False)
        seconds = time.perf_counter() - t
        pred_file = next(Path(out).rglob("xnli.predictions.jsonl"))
        preds = {(p["lang"], str(p["id"])): p["predicted"] for p in map(json.loads, pred_file.open())}
    n = sum(m["n"] for lang, m in r["results"].items() if lang != "average")
    assert n == len(preds), (n, len(preds))
    correct = sum(m["acc,none"] * m["n"] for lang, m in r["results"].items() if lang != "average")
    return seconds, correct / n, preds, clock.seconds


# ---------------------------------------------------------------- lm-evaluation-harness

def write_lm_eval_task(folder: Path, rows: list[dict], prompt_template: str, choices: list[str]) -> Path:
    data = folder / "xnli_bench.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for r in rows:  # the fields as our prompt uses them (stripped)
            f.write(json.dumps(dict(id=r["id"], lang=r["lang"], premise=str(r["premise"]).strip(),
                                    hypothesis=str(r["hypothesis"]).strip(), label=r["label"]),
                               ensure_ascii=False) + "\n")
    jinja = prompt_template.replace("{premise}", "{{premise}}").replace("{hypothesis}", "{{hypothesis}}")
    yaml = (f"task: {TASK_NAME}\n"
            f"dataset_path: json\n"
            f"dataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
            f"test_split: test\n"
            f"output_type: multiple_choice\n"
            f"doc_to_text: {json.dumps(jinja)}\n"
            f"doc_to_choice: {json.dumps(list(choices))}\n"
            f"doc_to_target: label\n"
            f"target_delimiter: \" \"\n"
            f"metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n")
    (folder / f"{TASK_NAME}.yaml").write_text(yaml, encoding="utf-8")
    return folder


def lm_eval_model(checkpoint_dir, device, batch_size, precision="float32"):
    from lm_eval.models.huggingface import HFLM
    return HFLM(pretrained=str(checkpoint_dir), dtype=precision, device=str(device), batch_size=batch_size,
                add_bos_token=True, trust_remote_code=False)


def run_lm_eval(lm, task_dir: Path):
    """simple_evaluate on the local task; returns (seconds, accuracy, [predicted index per doc], [contexts],
    seconds inside lm.loglikelihood)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    with CallClock(lm, "loglikelihood") as clock:
        t = time.perf_counter()
        res = simple_evaluate(model=lm, tasks=[TASK_NAME], task_manager=TaskManager(include_path=str(task_dir)),
                              log_samples=True, bootstrap_iters=0, verbosity="ERROR")
        seconds = time.perf_counter() - t
    samples = sorted(res["samples"][TASK_NAME], key=lambda s: s["doc_id"])
    preds = [max(range(len(s["filtered_resps"])), key=lambda i: s["filtered_resps"][i][0]) for s in samples]
    contexts = [s["arguments"][0][0] if isinstance(s["arguments"], list) else s["arguments"]["gen_args_0"]["arg_0"]
                for s in samples]
    return seconds, res["results"][TASK_NAME]["acc,none"], preds, contexts, clock.seconds


def plain_checkpoint_dir(preset: str, plain, tmp: Path) -> Path:
    """The plain LLM's directory for lm_eval: pocket -> the cached plain Gemma checkpoint; else save it."""
    if preset == "pocket":
        from fusion.pocket import gemma_checkpoint
        return gemma_checkpoint()
    path = tmp / "plain-llm"
    plain.llm.save_pretrained(path)
    plain.llm_tokenizer.save_pretrained(path)
    return path


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--per-language", type=int, default=20, help="examples per language (15 languages)")
    p.add_argument("--batch-size", type=int, default=16, help="ours and lm_eval")
    p.add_argument("--naive-every", type=int, default=10, help="the naive loop scores every N-th example")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of ours and naive (lm_eval: once)")
    p.add_argument("--fused", help="fused model: a checkpoint dir (default: checkpoints/<preset>-nli-"
                                   "transformer-softmax if present, else the preset's untrained bridge)")
    args = p.parse_args()
    device = setup(args)

    import lm_eval

    from tasks import get_task
    from fusion import FusedModel, PlainLLM, checkpoint

    task = get_task("xnli")
    languages = list(task.languages)
    rows = xnli_rows(args.per_language, languages)
    prompts = [task.prompt(r) for r in rows]
    naive_idx = list(range(0, len(rows), args.naive_every))
    header(f"Evaluation throughput ({args.preset}, XNLI, {len(rows)} examples = {args.per_language} x "
           f"{len(languages)} languages; lm_eval {lm_eval.__version__})", device)

    plain = PlainLLM.from_name(args.preset, device=device, dtype=args.precision)
    ckpt = Path(args.fused) if args.fused else common.REPO / "checkpoints" / f"{args.preset}-nli-transformer-softmax"
    if checkpoint.is_checkpoint(ckpt):
        fused, fused_name = FusedModel.from_pretrained(ckpt, device=device, dtype=args.precision), str(ckpt.name)
    else:
        fused = FusedModel.from_preset(args.preset, strategy="transformer-softmax", device=device, dtype=args.precision)
        fused_name = f"{args.preset} (untrained transformer-softmax bridge)"
    print(f"fused model: {fused_name}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["HF_DATASETS_CACHE"] = str(tmp / "datasets-cache")  # no stale cache between runs
        (tmp / "task").mkdir()
        task_dir = write_lm_eval_task(tmp / "task", rows, task.template, task.choices)
        lm = lm_eval_model(plain_checkpoint_dir(args.preset, plain, tmp), device, args.batch_size, args.precision)

        ours = {"plain": [], "fused": []}
        naive_time = {"plain": 0.0, "fused": 0.0}
        naive_preds = {"plain": [], "fused": []}
        harness = None
        chunks = [naive_idx[i::args.rounds] for i in range(args.rounds)]  # the naive examples, split over rounds
        for r in range(args.rounds):
            for name, model in (("plain", plain), ("fused", fused)):
                ours[name].append(run_ours(model, languages, args.per_language, args.batch_size))
                print(f"round {r + 1}: ours {name}: {ours[name][-1][0]:.1f} s", flush=True)
            for name, fn, model in (("plain", naive_plain, plain), ("fused", naive_fused, fused)):
                t = time.perf_counter()
                naive_preds[name] += list(zip(chunks[r], fn(model, [prompts[i] for i in chunks[r]], task.targets)))
                naive_time[name] += time.perf_counter() - t
                print(f"round {r + 1}: naive {name}: {len(chunks[r])} examples, "
                      f"{time.perf_counter() - t:.1f} s", flush=True)
            if r == 0:
                harness = run_lm_eval(lm, task_dir)
                print(f"round 1: lm_eval: {harness[0]:.1f} s", flush=True)

    n = len(rows)
    eps = {k: n / statistics.median(run[0] for run in v) for k, v in ours.items()}
    naive_eps = {k: len(naive_idx) / naive_time[k] for k in naive_time}
    h_seconds, h_acc, h_preds, h_contexts, h_model_s = harness
    ours_model_s = statistics.median(run[3] for run in ours["plain"])
    h_eps = n / h_seconds
    acc = {k: v[0][1] for k, v in ours.items()}
    plain_preds = ours["plain"][0][2]
    ours_list = [plain_preds[(r["lang"], str(r["id"]))] for r in rows]
    agree = sum(a == b for a, b in zip(ours_list, h_preds))
    same_prompts = sum(c == p for c, p in zip(h_contexts, prompts))
    naive_agree = {k: sum(ours[k][0][2][(rows[i]["lang"], str(rows[i]["id"]))] == pred for i, pred in naive_preds[k])
                   for k in naive_preds}

    print()
    print(table([
        ["ours, plain LLM (evaluate, batch 16)", f"{eps['plain']:.2f}", f"{100 * acc['plain']:.1f}", n],
        ["ours, fused model (evaluate, batch 16)", f"{eps['fused']:.2f}", f"{100 * acc['fused']:.1f}", n],
        ["naive loop, plain LLM (batch 1, full LM head)", f"{naive_eps['plain']:.3f}", "-", len(naive_idx)],
        ["naive loop, fused model (batch 1, full LM head)", f"{naive_eps['fused']:.3f}", "-", len(naive_idx)],
        [f"lm-evaluation-harness {lm_eval.__version__}, plain LLM (HF, batch {args.batch_size})",
         f"{h_eps:.2f}", f"{100 * h_acc:.1f}", n],
    ], ["what", "examples/s", "accuracy %", "examples timed"]))
    print(f"\nend to end (data, scoring, metrics): ours (median of {args.rounds} rounds) plain "
          f"{[round(run[0], 1) for run in ours['plain']]} s, fused {[round(run[0], 1) for run in ours['fused']]} s; "
          f"lm_eval {h_seconds:.1f} s (1 run)")
    print(f"model calls only (plain): ours {ours_model_s:.1f} s in classify, lm_eval {h_model_s:.1f} s in "
          f"loglikelihood -> {h_model_s / ours_model_s:.2f}x")
    print(f"lm_eval's contexts equal our prompts: {same_prompts}/{n}; same decisions as lm_eval (plain): "
          f"{agree}/{n}; naive loop's decisions equal ours: plain {naive_agree['plain']}/{len(naive_idx)}, "
          f"fused {naive_agree['fused']}/{len(naive_idx)}")
    print()
    acc_gap = 100 * abs(acc["plain"] - h_acc)
    raise SystemExit(verdicts([
        ("plain accuracy |ours - lm_eval| (points)", acc_gap, ACC_TOLERANCE, False, ""),
        ("ours / naive, fused (examples/s)", eps["fused"] / naive_eps["fused"], NAIVE_BAR, True),
        ("ours / naive, plain (examples/s)", eps["plain"] / naive_eps["plain"], NAIVE_BAR, True),
        ("ours / lm-evaluation-harness, plain (examples/s)", eps["plain"] / h_eps, HARNESS_BAR, True),
    ]))


if __name__ == "__main__":
    main()
