#!/usr/bin/env bash
# Train the shipped image edit models and their FlatMLPEditNet baselines: their named recipes (the stages and flags
# of each: dws-edit train edit --recipe list; dws_edit/tasks/recipes.py), one after the other (never two torch jobs
# at once on 2 cores), each stage into runs/<stage>. Resumable: rerun to continue (finished stages are skipped).
# Logs in logs/. Then: bash scripts/publish_image_edits.sh copies the best models into checkpoints/ and measures them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
for recipe in image-symmetrize image-remove image-smooth image-dilate \
  image-symmetrize-mlp image-remove-mlp image-smooth-mlp image-dilate-mlp; do
  echo "== $recipe: dws-edit train edit --recipe $recipe"
  .venv/bin/dws-edit train edit --recipe "$recipe" > "logs/train_$recipe.log" 2>&1
  tail -3 "logs/train_$recipe.log"
done
