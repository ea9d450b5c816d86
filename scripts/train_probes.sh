#!/usr/bin/env bash
# Trains the encoder-alone baseline (fusion.probe) for every family on the same English data as the bridges
# (topic: every example, as its bridges; the others class-balanced), C chosen on English dev.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
PY=${PY:-.venv/bin/python}
for family in ${*:-topic news nli sentiment}; do
  balance=true; [ "$family" = topic ] && balance=false
  out=checkpoints/probe-pocket-$family
  [ -f "$out/probe.safetensors" ] && continue
  $PY -m training.train_probe --preset pocket --task "$family" --data-dir "$DATA" --output-dir "$out" --balance $balance
done
