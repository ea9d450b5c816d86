"""Peak memory and start-up time, each in a subprocess:

- the app (`app.py --preset <preset>`, a bridge per task family and strategy of the checkpoints dir loaded on
  shared backbones): time from process start until its HTTP port answers (warm caches: one untimed start first,
  then the median of --starts), and its peak RSS (VmHWM) after one "compare" call (3 bridges + the LLM alone);
- a Leaderboard tab load (the page load's /leaderboard_refresh over the results directory), twice after that call:
  the first computes the view (what every load cost before the view was cached), the second reads the cache. Each:
  wall time, and CPU time of the app's process tree (the work a load takes from the model calls' CPU); the peak
  RSS with the leaderboard loaded is printed apart (the bar is on the peak after the compare call);
- one evaluation run: `python -m eval run --model <fused> --task xnli --limit 50 ...`: its peak RSS.

Peak RSS = max(VmHWM of the process tree while it runs, ru_maxrss from wait4). Bars: peak RSS <= 1.6 GB (both) in bfloat16, the default
where the CPU computes it (2.5 GB in float32);
start-up to ready <= 20 s. Also printed: where an evaluation process's memory goes (RSS after each loading stage
of fresh processes, split into anonymous and file-backed pages).

    .venv/bin/python bench/memory_startup.py                 # pocket
    .venv/bin/python bench/memory_startup.py --preset tiny --starts 1 --languages en
"""
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import common
from common import BENCHDATA, REPO, header, parser, setup, table, verdicts
from fusion import checkpoint, strategy_names
from layerbridge_app.registry import BridgeKey, find_checkpoints
from layerbridge_app.settings import load_settings
from tasks import FAMILIES

RSS_BAR_GB, READY_BAR_S = {"bfloat16": 1.6, "float32": 2.5}, 20.0  # peak RSS bar by precision
GB = 1e9


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree (/proc/<pid>/stat utime, stime)."""
    total = 0
    for p in tree(pid):
        try:
            total += sum(int(x) for x in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[11:13])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def leaderboard_loads(port: int, pid: int, n: int = 2) -> list[tuple[float, float]]:
    """(wall s, app CPU s) of n Leaderboard tab loads in a row: the first computes the view, the rest read the cache."""
    from gradio_client import Client
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    loads = []
    for _ in range(n):
        cpu, t = cpu_seconds(pid), time.perf_counter()
        # what a page load asks for: the default benchmark with its default views (languages, rows, partial runs)
        client.predict(None, None, None, False, api_name="/leaderboard_refresh")
        loads.append((time.perf_counter() - t, cpu_seconds(pid) - cpu))
    return loads


def hwm_bytes(pid: int) -> int:
    """Sum of VmHWM (peak resident set) over the process tree."""
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Child:
    """A subprocess whose peak RSS is tracked by polling /proc and by wait4."""

    def __init__(self, cmd, env=None):
        self.log = tempfile.TemporaryFile()
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.peak = 0

    def poll_peak(self):
        if self.proc.returncode is None:
            self.peak = max(self.peak, hwm_bytes(self.proc.pid))

    def running(self) -> bool:
        """Reaps the child with wait4 (not Popen.poll) so that its ru_maxrss is read."""
        if self.proc.returncode is None:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self.peak = max(self.peak, usage.ru_maxrss * 1024)
        return self.proc.returncode is None

    def wait(self, stop: bool = False, timeout: float = 60) -> int:
        if stop and self.running():
            os.killpg(self.proc.pid, signal.SIGINT)
        deadline = time.time() + timeout
        while self.running():
            self.poll_peak()
            if time.time() > deadline:
                os.killpg(self.proc.pid, signal.SIGKILL)
                deadline = time.time() + 30
            time.sleep(0.05)
        return self.proc.returncode

    def output(self, tail: int = 3000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-tail:]


def prepare_checkpoints(preset: str, given: str | None, tmp: Path) -> tuple[Path, str]:
    """A checkpoints dir with a bridge for every family and strategy the app serves: the given one, checkpoints/ when
    it has them all, else a temp dir with the trained ones that exist plus untrained bridges for the missing ones."""
    if given:
        return Path(given), f"{given} (given)"
    wanted = [BridgeKey(f, s) for f in FAMILIES for s in strategy_names()]
    real = REPO / "checkpoints"
    have = find_checkpoints(real, preset, variants=load_settings().variants)
    if len(have) == len(wanted):
        return real, f"{real} ({len(wanted)} trained bridges)"
    import torch

    from fusion import FusedModel, preset_config
    from tasks import get_task
    out = tmp / "checkpoints"
    out.mkdir()
    base = None
    for key in wanted:
        if key in have:
            shutil.copytree(have[key], out / have[key].name)
            continue
        if base is None:
            base = FusedModel.from_preset(preset, strategy=key.strategy, device="cpu", dtype=torch.float32)
        model = FusedModel(preset_config(preset, strategy=key.strategy), base.encoder, base.encoder_tokenizer,
                           base.llm, base.llm_tokenizer)
        model.save_pretrained(out / f"{preset}-{key.family}-{key.strategy}")
        checkpoint.write_train_results(out / f"{preset}-{key.family}-{key.strategy}",
                                       {"task": get_task(key.family).name, "seed": 0})   # who it is, for the app
    del base
    return out, f"temp dir: {len(have)} trained bridges from checkpoints/ + {len(wanted) - len(have)} untrained"


def start_app(preset: str, ckpts: Path, results: Path, compare: bool, timeout: float, precision: str) -> dict:
    port = free_port()
    cmd = [sys.executable, "app.py", "--preset", preset, "--checkpoints-dir", str(ckpts), "--results-dir",
           str(results), "--port", str(port), "--host", "127.0.0.1", "--device", "cpu",
           "--precision", precision]
    child = Child(cmd, env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
    ready = None
    while time.perf_counter() - child.t0 < timeout and child.running():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    ready = time.perf_counter() - child.t0
                    break
        except OSError:
            pass
        child.poll_peak()
        time.sleep(0.05)
    if ready is None:
        child.wait(stop=True)
        raise SystemExit(f"error: the app did not answer on port {port} within {timeout:.0f} s "
                         f"(exit {child.proc.returncode}):\n{child.output()}")
    child.poll_peak()
    at_ready = child.peak
    called = None
    if compare:
        try:
            from gradio_client import Client
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            t = time.perf_counter()
            client.predict("nli", "", "The cat sat on the mat all afternoon.", "An animal is resting.",
                           api_name="/compare")
            called = time.perf_counter() - t
        except Exception as e:  # the app's API is another module's: report, do not fail the measurement
            called = f"compare call failed: {type(e).__name__}: {str(e)[:200]}"
        child.poll_peak()
    peak, loads = child.peak, None
    if compare:
        try:
            loads = leaderboard_loads(port, child.proc.pid)
        except Exception as e:  # report, do not fail the memory and start-up measurements
            loads = f"leaderboard load failed: {type(e).__name__}: {str(e)[:200]}"
        child.poll_peak()
    child.wait(stop=True)
    return dict(ready=ready, rss_at_ready=at_ready, peak=peak, compare=called, leaderboard=loads,
                peak_with_leaderboard=child.peak)


def eval_run(model: str, strategy: str | None, languages: list[str], limit: int, tmp: Path, precision: str,
             scoring: str = "loglik") -> dict:
    out = tmp / f"eval-{time.time_ns()}"
    cmd = [sys.executable, "-m", "eval", "run", "--model", model, "--task", "xnli", "--languages", *languages,
           "--limit", str(limit), "--data-dir", str(BENCHDATA), "--output", str(out), "--no-progress",
           "--scoring", scoring, "--precision", precision]
    if strategy:
        cmd += ["--strategy", strategy]
    child = Child(cmd, env=dict(os.environ, CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", "")))
    while child.running():
        child.poll_peak()
        time.sleep(0.1)
    code = child.wait()
    seconds = time.perf_counter() - child.t0
    if code != 0:
        raise SystemExit(f"error: `{' '.join(cmd)}` failed ({code}):\n{child.output()}")
    return dict(peak=child.peak, seconds=seconds, cmd=" ".join(cmd[1:]))


BREAKDOWN = r"""
import sys, torch
torch.set_num_threads(2)
def stage(tag):
    d = {l.split(":")[0]: int(l.split()[1]) / 1e6 for l in open("/proc/self/status")
         if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
    print(f"STAGE {tag}|{d['VmRSS']:.2f}|{d['RssAnon']:.2f}|{d['RssFile']:.2f}", flush=True)
preset, data_dir, what, precision = sys.argv[1:5]
import fusion, eval.runner, transformers
if what == "tokenizers":  # pocket: the two tokenizers alone, in a process of their own
    from transformers import AutoTokenizer
    from fusion import pocket
    stage("imports (torch, transformers, fusion, eval)")
    from fusion.backbones import drop_python_vocab, release_freed_memory
    llm_tok = drop_python_vocab(AutoTokenizer.from_pretrained(pocket.gemma_checkpoint()))
    release_freed_memory()
    stage("+ the LLM's tokenizer alone")
    enc_tok = drop_python_vocab(AutoTokenizer.from_pretrained(pocket.e5_checkpoint()))
    release_freed_memory()
    stage("+ the encoder's tokenizer alone")
else:
    from fusion import FusedModel
    from tasks import get_task
    from tasks.data import load_test
    model = FusedModel.from_preset(preset, strategy="transformer-softmax", device="cpu", dtype=precision)
    stage("fused model loaded (weights mmapped, partly paged in)")
    task = get_task("xnli")
    rows = load_test(task, "hi", data_dir=data_dir, limit=16)
    model.classify([task.prompt(r) for r in rows], task.targets, batch_size=16)
    stage("+ one classify batch of 16 (weights paged in)")
"""


def breakdown(preset: str, precision: str) -> list[list]:
    """RSS after each stage of fresh processes (VmRSS = anonymous + file-backed pages)."""
    rows = []
    for what in (["tokenizers"] if preset == "pocket" else []) + ["model"]:
        out = subprocess.run([sys.executable, "-c", BREAKDOWN, preset, str(BENCHDATA), what, precision], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
        found = [line[6:].split("|") for line in out.stdout.splitlines() if line.startswith("STAGE ")]
        if out.returncode != 0 or not found:
            return rows + [[f"breakdown failed: {out.stderr[-300:]}", "", "", ""]]
        rows += [[f"{what} process: {tag}", *(f"{float(v):.2f}" for v in vals)] for tag, *vals in found]
    return rows


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--starts", type=int, default=3, help="timed app starts")
    p.add_argument("--warm-starts", type=int, default=1, help="untimed app starts first, to warm the caches")
    p.add_argument("--checkpoints-dir", help="default: checkpoints/ if it holds all the app's bridges of the preset")
    p.add_argument("--languages", nargs="+", default=["en", "hi", "sw"], help="eval run languages")
    p.add_argument("--limit", type=int, default=50, help="eval run: examples per language")
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for the app")
    args = p.parse_args()
    device = setup(args)
    if args.device != "cpu":
        raise SystemExit("error: this script measures the CPU app and eval run (--device cpu)")
    header(f"Memory and start-up ({args.preset}, {args.precision})", device)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpts, what = prepare_checkpoints(args.preset, args.checkpoints_dir, tmp)
        print(f"app checkpoints: {what}", flush=True)
        results = REPO / "results" if (REPO / "results").is_dir() else tmp / "results"
        results.mkdir(exist_ok=True)
        for _ in range(args.warm_starts):  # warm the caches (page cache, .pyc, the dequantized pocket weights)
            start_app(args.preset, ckpts, results, compare=False, timeout=args.timeout, precision=args.precision)
        starts = []
        for i in range(args.starts):
            starts.append(start_app(args.preset, ckpts, results, compare=(i == 0), timeout=args.timeout,
                                      precision=args.precision))
            print(f"app start {i + 1}: ready in {starts[-1]['ready']:.1f} s, peak RSS "
                  f"{starts[-1]['peak'] / GB:.2f} GB", flush=True)
        fused = REPO / "checkpoints" / f"{args.preset}-nli-transformer-softmax"
        model, strategy = (str(fused), None) if checkpoint.is_checkpoint(fused) else \
            (args.preset, "transformer-softmax")
        ev = eval_run(model, strategy, args.languages, args.limit, tmp, args.precision)
        print(f"eval run: {ev['seconds']:.1f} s, peak RSS {ev['peak'] / GB:.2f} GB", flush=True)
        ev_constrained = eval_run(model, strategy, args.languages, args.limit, tmp, args.precision,
                                  scoring="constrained")
        print(f"eval run, constrained scoring: {ev_constrained['seconds']:.1f} s, peak RSS "
              f"{ev_constrained['peak'] / GB:.2f} GB", flush=True)

    ready = statistics.median(s["ready"] for s in starts)
    app_peak = max(s["peak"] for s in starts)
    call = starts[0]["compare"]
    call = call if isinstance(call, str) else f"one compare call: {call:.1f} s"
    loads = starts[0]["leaderboard"]
    if isinstance(loads, str):
        lb_rows = [["(info) Leaderboard tab load", loads, ""]]
    else:
        lb_rows = [[f"(info) Leaderboard tab load, {what}", f"{wall:.2f} s wall", f"{cpu:.2f} s app CPU"]
                   for what, (wall, cpu) in zip(("first: computes the view (every load, before the cache)",
                                                 "again: read from the cache"), loads)]
        lb_rows.append(["(info) app peak RSS with the leaderboard loaded",
                        f"{starts[0]['peak_with_leaderboard'] / GB:.2f} GB", f"results: {results}"])
    print()
    print(table([
        ["app: start to HTTP ready (median, warm caches)", f"{ready:.1f} s",
         f"starts: {[round(s['ready'], 1) for s in starts]}"],
        ["app: RSS at ready (max over starts)", f"{max(s['rss_at_ready'] for s in starts) / GB:.2f} GB", ""],
        ["app: peak RSS (max over starts)", f"{app_peak / GB:.2f} GB", call],
        *lb_rows,
        ["eval run: peak RSS", f"{ev['peak'] / GB:.2f} GB", f"`{ev['cmd']}` ({ev['seconds']:.0f} s)"],
        ["(info) eval run, --scoring constrained: peak RSS", f"{ev_constrained['peak'] / GB:.2f} GB",
         f"({ev_constrained['seconds']:.0f} s)"],
    ], ["what", "value", "detail"]))
    print("\nWhere an evaluation process's memory goes (a fresh process, RSS in GB after each stage; file = the "
          "mmapped safetensors weights and shared libraries):")
    print(table(breakdown(args.preset, args.precision), ["stage", "RSS", "anonymous", "file-backed"]))
    print()
    rss_bar = RSS_BAR_GB[args.precision]
    raise SystemExit(verdicts([
        (f"eval run peak RSS (GB), {args.precision}", ev["peak"] / GB, rss_bar, False, " GB"),
        (f"app peak RSS (GB), {args.precision}", app_peak / GB, rss_bar, False, " GB"),
        ("app start-up to ready (s)", ready, READY_BAR_S, False, " s"),
    ]))


if __name__ == "__main__":
    main()
