#!/usr/bin/env bash
# Runs every benchmark one after another and reports which bars pass. Extra arguments go to every script
# (e.g. `bash bench/run_all.sh --preset tiny`; SCRIPTS="latency scaling" for a subset). Logs: bench/logs/<script>.log.
# Exit status: the number of scripts that missed a bar.
# Needs the pinned extras: .venv/bin/pip install -r requirements-bench.txt
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p bench/logs
failed=0
summary=()
for script in ${SCRIPTS:-latency eval_throughput train_step memory_startup scaling scoring_agreement}; do
  echo "== bench/$script.py $*"
  start=$(date +%s)
  "$PY" bench/$script.py "$@" > "bench/logs/$script.log" 2>&1
  code=$?
  grep -E "^(RESULT|WARNING)" "bench/logs/$script.log" | sed 's/^/   /'
  if [ $code -eq 0 ]; then verdict=PASS; else verdict="FAIL (exit $code)"; failed=$((failed + 1)); fi
  summary+=("$(printf '%-20s %s (%ss)' "$script" "$verdict" $(( $(date +%s) - start )))")
done
echo
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $failed
