"""Smoke test: every benchmark script runs end to end on the tiny preset with tiny sizes and prints its
RESULT line(s) last. No timing assertions (bars are checked by the scripts themselves on the pocket preset)."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CASES = {
    "latency": ["--reps", "2", "--naive-reps", "1"],
    "train_step": ["--reps", "2", "--batches", "1", "--batch-size", "2"],
    "scaling": ["--lengths", "16", "32", "--batches", "1", "2", "--reps", "1"],
    "eval_throughput": ["--per-language", "1", "--naive-every", "5", "--rounds", "1"],
    "memory_startup": ["--starts", "1", "--warm-starts", "0", "--languages", "en", "--limit", "2"],
    "scoring_agreement": ["--limit", "2"],
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", list(CASES))
def test_bench_script_runs_on_tiny(script, benchdata, tmp_path):
    if script == "eval_throughput" and importlib.util.find_spec("lm_eval") is None:
        pytest.skip("lm_eval is not installed (pip install -r requirements-bench.txt)")
    extra = ["--out", str(tmp_path / "scaling")] if script == "scaling" else []
    proc = subprocess.run([sys.executable, f"bench/{script}.py", "--preset", "tiny", *CASES[script], *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=280)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-3000:]  # 1 = a bar missed on tiny
    assert lines and lines[-1].startswith("RESULT "), proc.stdout[-2000:] + proc.stderr[-2000:]
    if script == "scaling":
        assert (tmp_path / "scaling.png").stat().st_size > 1000
        assert "| 32 |" in (tmp_path / "scaling.md").read_text()
    if script == "memory_startup":  # the leaderboard loads are info lines: a failed call would only be printed
        assert "leaderboard load failed" not in proc.stdout, proc.stdout[-3000:]
        assert "read from the cache" in proc.stdout, proc.stdout[-3000:]
