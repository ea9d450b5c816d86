#!/usr/bin/env bash
# Evaluates the shipped pocket bridges and the plain LLM (no encoder) on the shared benchmark samples and
# rebuilds the leaderboard: results/<model>/<task>.json (+ predictions), results/leaderboard.{csv,md}.
# One leaderboard row per strategy: the NLI, news and sentiment bridges of a strategy share the name pocket-<strategy>.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
OUT=${OUT:-results}
XNLI_LIMIT=${XNLI_LIMIT:-60}      # per language, class-balanced (the shared sample has 300)
MARC_LIMIT=${MARC_LIMIT:-60}      # per language (shared: 300)
NTREX_LIMIT=${NTREX_LIMIT:-200}   # parallel sentences (shared: 500)
run() { .venv/bin/python -m eval run --data-dir "$DATA" --output "$OUT" --no-progress "$@"; }
trained() { .venv/bin/python -c 'import sys; from fusion.checkpoint import is_checkpoint; sys.exit(not is_checkpoint(sys.argv[1]))' "$1"; }

for family_task in nli:xnli news:sinhala_news sentiment:amazon_reviews; do
  family=${family_task%%:*}; task=${family_task##*:}
  case $task in xnli) limit=(--limit "$XNLI_LIMIT") ;; amazon_reviews) limit=(--limit "$MARC_LIMIT") ;; *) limit=() ;; esac
  run --model plain:pocket --task "$task" "${limit[@]}"
  for strategy in last global-softmax transformer-softmax; do
    ckpt=checkpoints/pocket-$family-$strategy
    trained "$ckpt" || { echo "skip $ckpt (not trained)"; continue; }
    run --model "$ckpt" --name "pocket-$strategy" --task "$task" "${limit[@]}"
  done
done
# what each layer and each NLI bridge's fusion carry across languages
for strategy in last global-softmax transformer-softmax; do
  ckpt=checkpoints/pocket-nli-$strategy
  trained "$ckpt" && run --model "$ckpt" --name "pocket-$strategy" --task ntrex_alignment --limit "$NTREX_LIMIT"
done
.venv/bin/python -m eval leaderboard --results "$OUT"
