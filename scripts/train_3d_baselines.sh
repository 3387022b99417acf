#!/usr/bin/env bash
# Train the FlatMLPEditNet baselines of the 3-D edit models into runs/<model>-mlp, where `dws-edit bench edit
# --domain sdf|field` finds them (they are not shipped: checkpoints/ stays under 50 MB). Each takes the weights only
# (no loss gradient, one pass) with the data, loss, output form (--keep or --outputs 2), batch, learning rate and
# steps of its DWS model's first run in scripts/train_3d_edits.sh; 128 hidden units: 0.33 M parameters (--keep) to
# 0.53 M (--outputs 2), against 0.32 to 0.33 M for one SDF DWS pass and 0.82 to 0.85 M for a field pass; 3 to 12
# minutes a run here. One run at a time, resumable; logs in logs/. Needs zoos/sdf and zoos/fields
# (bash scripts/fit_zoos.sh). THREADS (default 2): torch's threads.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
train() {
  local name=$1; shift
  echo "== $name: dws-edit train edit $*"
  .venv/bin/dws-edit train edit "$@" --model mlp --depth 3 --mlp-hidden 128 --out "runs/$name" \
    < /dev/null > "logs/train_$name.log" 2>&1
  tail -1 "logs/train_$name.log"
}
BASE=(--lr 1e-3 --batch-size 32 --points 2048 --eval-every 500 --val-count 256 --threads "${THREADS:-2}")
# model, zoo, steps, output form (two: --outputs 2; keep: --keep --outputs 1), then any loss options
while read -r name zoo steps form loss; do
  case $form in
    two) out=(--outputs 2) ;;
    keep) out=(--outputs 1 --keep) ;;
  esac
  # shellcheck disable=SC2086  # $loss: zero or more options
  train "$name-mlp" --edit "${name#*-}" --zoo "$zoo" --steps "$steps" "${BASE[@]}" "${out[@]}" $loss
done <<'RUNS'
sdf-remove zoos/sdf 3000 keep
sdf-remove_sphere zoos/sdf 5000 keep
sdf-symmetrize zoos/sdf 2000 two
sdf-remove_part zoos/sdf 4000 keep --clamp 0.05 --target-near 0.5
sdf-smooth zoos/sdf 4000 two
field-remove zoos/fields 2000 two
field-remove_sphere zoos/fields 2000 two
field-symmetrize zoos/fields 2000 two
field-remove_part zoos/fields 3000 keep --clamp 0.4 --target-near 0.5
field-smooth zoos/fields 3000 two
RUNS
