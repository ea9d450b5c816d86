#!/usr/bin/env bash
# Seed ensembles (fusion.ensemble: a strategy's 3 seeds, their choice probabilities averaged) on the FULL shared
# SIB-200 test sample, for every topic strategy (and fusion-ablation arm) whose seeds 0, 1 and 2 are all trained:
# results/<stem>-ens3/sib200.json. Runs resume. Usage: bash scripts/evaluate_ensembles.sh [stem ...]
#   e.g. bash scripts/evaluate_ensembles.sh pocket-topic-global-softmax pocket-topic-last
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
OUT=${OUT:-results}
PY=${PY:-.venv/bin/python}
stems=("$@")
if [ ${#stems[@]} = 0 ]; then
  for s0 in checkpoints/pocket-topic-* checkpoints/ablations/pocket-topic-*; do
    case $s0 in *-s[0-9]) continue ;; esac
    [ -f "$s0/bridge.safetensors" ] && stems+=("${s0#checkpoints/}")
  done
fi
for stem in "${stems[@]}"; do
  seeds=("checkpoints/$stem" "checkpoints/$stem-s1" "checkpoints/$stem-s2")
  ok=1; for d in "${seeds[@]}"; do [ -f "$d/bridge.safetensors" ] || ok=0; done
  [ $ok = 1 ] || { echo "skip $stem: seeds 0-2 not all trained"; continue; }
  $PY -m eval run --data-dir "$DATA" --output "$OUT" --no-progress --task sib200 \
    --model "ensemble:$(IFS=,; echo "${seeds[*]}")"
done
