#!/usr/bin/env bash
# Trains the encoder-alone baseline (fusion.probe) for every family on the same English data as the bridges
# (topic: every example, as its bridges; the others class-balanced), C chosen on English dev. news-sent: the news
# probe trained and dev-scored on single BBC sentences, the baseline of the news-sent bridges.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
PY=${PY:-.venv/bin/python}
list=false; [ "${1:-}" = --list ] && list=true && shift   # --list: the checkpoints/ names it makes; trains nothing
for family in ${*:-topic news news-sent nli sentiment}; do
  balance=true; [ "$family" = topic ] && balance=false
  task=$family; args=""
  [ "$family" = news-sent ] && task=news && args="--sentence-chunks 1"
  out=checkpoints/probe-pocket-$family
  if $list; then echo "${out#checkpoints/}"; continue; fi
  [ -f "$out/probe.safetensors" ] && continue
  $PY -m training.train_probe --preset pocket --task "$task" --data-dir "$DATA" --output-dir "$out" --balance $balance $args
done
