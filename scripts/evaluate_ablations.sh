#!/usr/bin/env bash
# Evaluates every fusion-ablation bridge in checkpoints/ablations/ (scripts/train_pocket_bridges.sh, ABLATION=1) on
# the FULL shared SIB-200 test sample: results/<bridge>/sib200.json (+ per-example predictions). Runs resume, so a
# bridge already evaluated costs a signature check.   Usage: bash scripts/evaluate_ablations.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
OUT=${OUT:-results}
PY=${PY:-.venv/bin/python}
for ckpt in checkpoints/ablations/pocket-topic-*; do
  [ -f "$ckpt/bridge.safetensors" ] || continue
  $PY -m eval run --data-dir "$DATA" --output "$OUT" --no-progress --model "$ckpt" --task sib200
done
