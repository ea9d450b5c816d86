#!/usr/bin/env bash
# Trains the pocket bridges that ship in checkpoints/ (one after another: the 2-core CPU is the budget).
# Usage: bash scripts/train_pocket_bridges.sh [family ...]   (families: nli news sentiment; default: all three)
# A bridge whose checkpoints/ directory already exists is skipped; an interrupted run resumes from runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
families=${*:-nli news sentiment}
for family in $families; do
  case $family in
    nli) steps=150; len=128 ;;
    news) steps=100; len=96 ;;
    sentiment) steps=80; len=128 ;;
    *) echo "unknown family $family" >&2; exit 2 ;;
  esac
  for strategy in last global-softmax transformer-softmax; do
    name=pocket-$family-$strategy
    [ -f "checkpoints/$name/bridge.safetensors" ] && continue
    .venv/bin/python -m fusion.train --preset pocket --task "$family" --strategy "$strategy" \
      --data-dir "$DATA" --output-dir "runs/$name" --max-steps "$steps" --max-encoder-length "$len" \
      --lr 2e-3 --temperature-lr 2e-5 --batch-size 8 --save-every 25 --eval-examples 200 --seed 0
    mkdir -p "checkpoints/$name"
    cp runs/$name/{README.md,bridge.safetensors,config.json,train_results.json,metrics.jsonl} "checkpoints/$name/"
  done
done
