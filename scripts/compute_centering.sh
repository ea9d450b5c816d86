#!/usr/bin/env bash
# Writes the per-language centering statistics that ship in checkpoints/ (python -m fusion.centering; docs/fusion.md):
# from UNLABELED text only (the text column of SIB-200's dev split, NTREX-128's parallel sentences), never labels or
# test items.   Usage: bash scripts/compute_centering.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/benchdata}
PY=${PY:-.venv/bin/python}
$PY -m fusion.centering "$DATA/sib200/dev.jsonl" checkpoints/centering-pocket-sib200-dev --text-field text --lang-field lang
$PY -m fusion.centering "$DATA/ntrex128/parallel.jsonl" checkpoints/centering-pocket-ntrex128 --columns en,si,ta,bn,hi,ml
