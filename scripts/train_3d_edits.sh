#!/usr/bin/env bash
# Train the shipped 3-D edit models (SDF, then colored fields): their named recipes (the stages and flags of each:
# dws-edit train edit --recipe list; dws_edit/tasks/recipes.py), one after the other (never two torch jobs at once on
# 2 cores), each stage into runs/<stage>; then their FlatMLPEditNet baselines (scripts/train_3d_baselines.sh).
# Resumable: rerun to continue (finished stages are skipped). Logs in logs/. Needs zoos/sdf and zoos/fields
# (bash scripts/fit_zoos.sh). THREADS (default 2): torch's threads.
# Then: bash scripts/publish_3d_edits.sh copies the best models into checkpoints/ and measures them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
for recipe in sdf-symmetrize sdf-remove sdf-remove_part sdf-smooth sdf-remove_sphere \
  field-symmetrize field-remove field-remove_part field-smooth field-remove_sphere; do
  echo "== $recipe: dws-edit train edit --recipe $recipe"
  .venv/bin/dws-edit train edit --recipe "$recipe" --threads "${THREADS:-2}" > "logs/train_$recipe.log" 2>&1
  tail -2 "logs/train_$recipe.log"
done
bash scripts/train_3d_baselines.sh
