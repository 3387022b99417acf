#!/usr/bin/env bash
# Train the FlatMLPEditNet baselines of the 3-D edit models into runs/<model>-mlp, where `dws-edit bench edit
# --domain sdf|field` finds them (they are not shipped: checkpoints/ stays under 50 MB): their named recipes
# (dws_edit/tasks/recipes.py). Each takes the weights only (no loss gradient, one pass) with the data, loss, output
# form (--keep or --outputs 2), batch, learning rate and steps of its DWS model's first stage; 128 hidden units:
# 0.33 M parameters (--keep) to 0.53 M (--outputs 2), against 0.32 to 0.33 M for one SDF DWS pass and 0.82 to 0.85 M
# for a field pass; 3 to 12 minutes a run here. One run at a time, resumable; logs in logs/. Needs zoos/sdf and
# zoos/fields (bash scripts/fit_zoos.sh). THREADS (default 2): torch's threads.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
for model in sdf-remove sdf-remove_sphere sdf-symmetrize sdf-remove_part sdf-smooth \
  field-remove field-remove_sphere field-symmetrize field-remove_part field-smooth; do
  echo "== $model-mlp: dws-edit train edit --recipe $model-mlp"
  .venv/bin/dws-edit train edit --recipe "$model-mlp" --threads "${THREADS:-2}" < /dev/null \
    > "logs/train_$model-mlp.log" 2>&1
  tail -1 "logs/train_$model-mlp.log"
done
