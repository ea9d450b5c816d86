#!/usr/bin/env bash
# Trains the pocket bridges that ship in checkpoints/, one after another (the 2-core CPU is the budget), each to
# convergence on ENGLISH dev: the dev set is scored every EVAL_EVERY steps, the best bridge is kept, and a run stops
# after PATIENCE evaluations without improvement (training.train --eval-every/--patience).
#
#   bash scripts/train_pocket_bridges.sh                       # the whole queue, mission first (see QUEUE)
#   QUEUE="topic:last:0 topic:residual-softmax:0" bash scripts/train_pocket_bridges.sh
#   ABLATION=1 bash scripts/train_pocket_bridges.sh            # the fusion ablation's queue instead (see below)
#   bash scripts/train_pocket_bridges.sh --list                # the checkpoints/ names both queues make; trains nothing
#
# A queue entry is family:strategy:seed. Family news-sent is news trained (and dev-scored) on single sentences of the
# BBC articles instead of their first 96 tokens (training.train --sentence-chunks 1; Sinhala news test items are
# sentences); its last-layer bridges (seeds 0-2) are the app's news/last (spaces.yaml `variants`).
# Output: runs/pocket-<family>-<strategy>-s<seed>/ (resumable: an interrupted
# run continues from its last checkpoint); a finished run is copied to checkpoints/ (seed 0 as
# pocket-<family>-<strategy>, other seeds with a -s<seed> suffix). A bridge this queue already put in checkpoints/ is
# skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
PY=${PY:-.venv/bin/python}
# every registered fusion strategy (fusion.strategies.STRATEGY_REGISTRY), in registration order
strategies=$($PY -c 'from fusion.strategies import strategy_names; print(*strategy_names())')
first="last transformer-softmax"   # seed 0 of the last layer and the paper's strategy first (topic, news), then the
rest=$(for s in $strategies; do case " $first " in *" $s "*) ;; *) echo "$s" ;; esac; done)   # others, then seeds 1-2
default_queue=""
for pair in "$first" "$rest"; do
  for family in topic news; do
    for s in $pair; do default_queue+="$family:$s:0 "; done
  done
done
for seed in 1 2; do
  for family in topic news; do
    for s in $strategies; do default_queue+="$family:$s:$seed "; done
  done
done
for seed in 0 1 2; do default_queue+="news-sent:last:$seed "; done
for family in nli sentiment; do
  for s in $strategies; do default_queue+="$family:$s:0 "; done
done
# The fusion ablation (README, "Fusion ablation"): family:strategy:seed:recipe entries, chosen on English dev only.
# Their bridges go to checkpoints/ablations/ (the app and scripts/evaluate_pocket.sh do not serve them) as
# pocket-<family>-<strategy>-<recipe>[-s<seed>]. Recipes (added to the flags of the recipe the ablation started from,
# AdamW lr 2e-3 for every parameter; transformer softmax's default fusion lr has since become flr's 1e-4, so the other
# arms pin the fusion lr at 2e-3 to stay one change from where they started):
#   flr   the fusion module's learning rate set apart from the mapping's: 1e-4 instead of 2e-3
#   ent   an entropy bonus on each token's layer weights: loss - 0.05 x mean entropy (nats)
#   init  transformer softmax's last-layer logit initialised at 2 (weight 0.40 of 12 layers at the start)
#   ema   the bridge's weights averaged over the steps (EMA decay 0.99); what is dev-scored and shipped
recipe_flags() {
  case $1 in
    "") echo "" ;;
    flr) echo "--fusion-lr 1e-4" ;;
    ent) echo "--fusion-lr 2e-3 --fusion-entropy-weight 0.05" ;;
    init) echo "--fusion-lr 2e-3 --transformer-last-layer-init 2" ;;
    ema) echo "--ema-decay 0.99" ;;
    *) echo "unknown recipe $1" >&2; return 2 ;;
  esac
}
ablation_queue=""  # seed 0 of every arm first, then seeds 1 and 2
for seed in 0 1 2; do
  for arm in transformer-softmax:flr transformer-softmax:ent transformer-softmax:init last:ema; do
    ablation_queue+="topic:${arm%%:*}:$seed:${arm#*:} "
  done
done
if [ "${ABLATION:-0}" = 1 ]; then default_queue=$ablation_queue; fi
if [ "${1:-}" = --list ]; then default_queue+=" $ablation_queue"; fi
QUEUE=${QUEUE:-$default_queue}

for entry in $QUEUE; do
  IFS=: read -r family strategy seed recipe <<< "$entry"
  flags=$(recipe_flags "${recipe:-}")
  task=$family
  case $family in   # steps: an upper bound; early stopping on English dev decides
    topic) max_steps=1000; args="--max-encoder-length 128 --balance false" ;;
    news) max_steps=1000; args="--max-encoder-length 96" ;;
    news-sent) task=news; max_steps=1000; args="--max-encoder-length 96 --sentence-chunks 1" ;;
    nli) max_steps=3000; args="--max-encoder-length 128" ;;
    sentiment) max_steps=3000; args="--max-encoder-length 128" ;;
    *) echo "unknown family $family" >&2; exit 2 ;;
  esac
  name=pocket-$family-$strategy${recipe:+-$recipe}
  [ "$seed" != 0 ] && name=$name-s$seed
  [ -n "${recipe:-}" ] && name=ablations/$name
  if [ "${1:-}" = --list ]; then echo "$name"; continue; fi
  # trained by this queue already: a model card with a stop reason, for the same step budget (an older, shorter
  # first bridge under the same name is retrained and replaced)
  grep -qs stop_reason "checkpoints/$name/train_results.json" \
    && grep -qs "\"max_steps\": $max_steps," "checkpoints/$name/train_results.json" && continue
  run=runs/pocket-$family-$strategy${recipe:+-$recipe}-s$seed
  # torch threads per run: THREADS_FILE (read at each run's start, so a busy machine can be given 1 thread: two
  # threads stall each other when other jobs take turns on the cores); default 2
  threads=$(cat "${THREADS_FILE:-runs/threads}" 2>/dev/null || echo 2)
  echo "=== $(date -u +%H:%M:%S) $run ($threads threads)"
  OMP_NUM_THREADS=$threads $PY -m training.train --preset pocket --task "$task" --strategy "$strategy" --data-dir "$DATA" \
    --output-dir "$run" --max-steps "$max_steps" $args --lr 2e-3 --temperature-lr 2e-5 --batch-size 8 --seed "$seed" \
    --eval-every 100 --patience 5 --eval-examples 300 --save-every 100 --keep-checkpoints 1 --precision auto $flags
  $PY -m training.export "$run" "checkpoints/$name"
done
