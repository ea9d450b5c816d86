"""Shared helpers of the benchmark scripts: arguments, machine description, interleaved timing, the verdict.

Every script compares candidates measured side by side in ONE run (the machine is shared and noisy, absolute
times are not comparable between runs): repetitions are interleaved (A B C, A B C, ...) and medians compared.
"""
import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/x.py` from anywhere
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

BENCHDATA = REPO.parent / "shared" / "benchdata"
THREADS = 2


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--preset", default="pocket", help="model preset (pocket; tiny for a smoke test)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=THREADS, help="torch threads (the bars are for 2)")
    p.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                   help="frozen backbones' precision (fusion.precision; auto: bfloat16 where the hardware computes it)")
    return p


def setup(args) -> torch.device:
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but no CUDA device is visible")
    torch.manual_seed(0)
    from fusion.precision import precision_name, resolve_dtype
    args.precision = precision_name(resolve_dtype(args.precision, args.device))  # "auto" -> what it means here
    return torch.device(args.device)


def machine(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    what = f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if device.type == "cpu":
        from fusion.precision import cpu_has_native_bf16
        what += f", native bfloat16: {'yes' if cpu_has_native_bf16() else 'no'}"
    if device.type == "cuda":
        what += f", GPU {torch.cuda.get_device_name(device)}"
    return what + ", " + datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def others_running() -> list[str]:
    """Other heavy jobs on this machine (training, evaluation runs) that make the numbers noisier."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("training.train" in cmd or "eval run" in cmd) and "bench/" not in cmd:
            found.append(f"{pid}: {cmd.strip()[:120]}")
    return found


def header(title: str, device: torch.device):
    print(f"# {title}")
    print(f"machine: {machine(device)}")
    busy = others_running()
    if busy:
        print(f"WARNING: other heavy jobs were running (shared machine): {len(busy)}")
        for b in busy:
            print(f"  {b}")
    sys.stdout.flush()


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def interleaved(fns: dict, reps: int, device, warmup: int = 1, cap: dict | None = None) -> dict[str, list[float]]:
    """Seconds per call of each fn, the calls interleaved: `warmup` untimed rounds, then `reps` timed rounds,
    each round calling every fn once (the order rotates from round to round). `cap` {name: n}: time that fn
    only in the first n rounds (slow baselines)."""
    names, cap = list(fns), cap or {}
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            if r < cap.get(n, reps):
                times[n].append(timed(fns[n], device))
    return times


class CallTimer:
    """Wall time spent inside given modules' forward calls (hooks), one list of call durations per name."""

    def __init__(self, device, **modules):
        self.device, self.calls, self.handles, self._restore = device, {n: [] for n in modules}, [], []
        for name, m in modules.items():
            self.handles.append(m.register_forward_pre_hook(lambda mod, inp, name=name: self._start(name)))
            self.handles.append(m.register_forward_hook(lambda mod, inp, out, name=name: self._stop(name)))
        self._t = {}

    def _start(self, name):
        sync(self.device)
        self._t[name] = time.perf_counter()

    def _stop(self, name):
        sync(self.device)
        self.calls[name].append(time.perf_counter() - self._t.pop(name))

    def wrap(self, owner, attr: str, name: str):
        """Also time calls of the function `owner.attr` (e.g. a module-level function) under `name`."""
        original = getattr(owner, attr)
        self.calls.setdefault(name, [])

        def timed_call(*args, **kwargs):
            self._start(name)
            try:
                return original(*args, **kwargs)
            finally:
                self._stop(name)

        setattr(owner, attr, timed_call)
        self._restore.append((owner, attr, original))

    def reset(self):
        for v in self.calls.values():
            v.clear()

    def remove(self):
        for h in self.handles:
            h.remove()
        for owner, attr, original in self._restore:
            setattr(owner, attr, original)


def median_ms(ts: list[float]) -> float:
    return 1000 * statistics.median(ts)


def table(rows: list[list], headers: list[str]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def verdict(name: str, ratio: float, bar: float, higher_is_better: bool, unit: str = "x") -> int:
    """Print the ratio against its bar as the LAST line; return the exit status (0 pass, 1 miss)."""
    ok = ratio >= bar if higher_is_better else ratio <= bar
    sign = ">=" if higher_is_better else "<="
    print(f"RESULT {name}: {ratio:.3f}{unit} (bar {sign} {bar}{unit}) {'PASS' if ok else 'FAIL'}")
    sys.stdout.flush()
    return 0 if ok else 1


def verdicts(results: list[tuple]) -> int:
    """Several bars (name, ratio, bar, higher_is_better[, unit]): one RESULT line each, printed last."""
    code = 0
    for r in results:
        code |= verdict(*r)
    return code


def xnli_rows(per_language: int | None = 20, languages=None) -> list[dict]:
    """`per_language` rows of each language of the shared XNLI test sample as load_test selects them (class-balanced,
    seeded; the same rows evaluate(limit=...) scores): 300 with 20 x 15."""
    from tasks.data import load_test
    from tasks import get_task
    task = get_task("xnli")
    rows = []
    for lang in languages or task.languages:
        rows += load_test(task, lang, data_dir=BENCHDATA, limit=per_language)
    return rows


def text_of_length(tokenizer, n_tokens: int, prefix: str = "", seed_text: str | None = None) -> str:
    """An NLI-style prompt that tokenizes (with `prefix` and special tokens) to exactly n_tokens."""
    words = (seed_text or " ".join(r["premise"] for r in xnli_rows(60, ["en"]))).split()[:2 * n_tokens]
    count = lambda t: len(tokenizer(prefix + t, add_special_tokens=True)["input_ids"])
    make = lambda k: f"Premise: {' '.join(words[:k])} Hypothesis: The man is talking. Label:"
    if count(make(0)) > n_tokens:  # too short for the NLI template: plain words
        make = lambda k: " ".join(words[:max(1, k)])
    lo, hi = 0, len(words)
    if count(make(hi)) < n_tokens:
        words = words * (1 + n_tokens // max(1, len(words)))
        hi = len(words)
    while lo < hi:  # largest k with count <= n_tokens
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(make(mid)) <= n_tokens else (lo, mid - 1)
    text = make(lo)
    for _ in range(4 * n_tokens):
        if count(text) == n_tokens:
            return text
        # one more short word usually adds one token
        for filler in (" a", " x", " 1", "."):
            t = text.replace(" Hypothesis:", filler + " Hypothesis:", 1) if " Hypothesis:" in text else text + filler
            if count(t) <= n_tokens:
                text = t
                break
        else:
            break
    if count(text) != n_tokens:
        raise ValueError(f"could not build a prompt of exactly {n_tokens} tokens (got {count(text)})")
    return text
