#!/usr/bin/env bash
# Evaluates every shipped pocket model on the FULL shared test samples of its family's task and rebuilds the
# leaderboard: results/<model>/<task>.json (+ per-example predictions), results/leaderboard.{csv,md}.
#   - each bridge in checkpoints/pocket-<family>-<strategy>[-s<seed>] under its own name;
#   - the plain LLM (plain-pocket) and the encoder-alone baseline (probe-pocket: checkpoints/probe-pocket-<family>);
#   - every bridge's layer-wise cross-lingual alignment and layer mix per language (NTREX, encoder only: cheap).
# Usage: bash scripts/evaluate_pocket.sh [family ...]   (default: topic news nli sentiment). Runs resume.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
OUT=${OUT:-results}
PY=${PY:-.venv/bin/python}
run() { $PY -m eval run --data-dir "$DATA" --output "$OUT" --no-progress "$@"; }
trained() { $PY -c 'import sys; from fusion.checkpoint import is_checkpoint; sys.exit(not is_checkpoint(sys.argv[1]))' "$1"; }
task_of() { case $1 in topic) echo sib200 ;; news) echo sinhala_news ;; nli) echo xnli ;; sentiment) echo amazon_reviews ;; esac; }

for family in ${*:-topic news nli sentiment}; do
  task=$(task_of "$family")
  [ -n "$task" ] || { echo "unknown family $family" >&2; exit 2; }
  for ckpt in checkpoints/pocket-$family-*; do
    trained "$ckpt" && run --model "$ckpt" --task "$task"
  done
  [ -f "checkpoints/probe-pocket-$family/probe.safetensors" ] && run --model probe:pocket --task "$task"
  run --model plain:pocket --task "$task"
done
for ckpt in checkpoints/pocket-*; do
  trained "$ckpt" && run --model "$ckpt" --task ntrex_alignment
done
$PY -m eval leaderboard --results "$OUT"
