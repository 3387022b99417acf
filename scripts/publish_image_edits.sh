#!/usr/bin/env bash
# After scripts/train_image_edits.sh: copy each recipe's last stage into checkpoints/ as float16 (baselines into
# checkpoints/baselines/), measure them all on held-out INRs in one run, and write the measured
# quality into their cards and the figures into checkpoints/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
last_stage() { .venv/bin/python -c 'import sys; from dws_edit.tasks.recipes import RECIPES; print(RECIPES[sys.argv[1]][-1].name)' "$1"; }
for edit in symmetrize remove smooth dilate; do
  .venv/bin/dws-edit models publish "runs/$(last_stage "image-$edit")" --name "image-$edit" --half
  .venv/bin/dws-edit models publish "runs/image-$edit-mlp" --name "image-$edit-mlp" --baseline
done
.venv/bin/dws-edit bench edit --write-cards --out outputs/bench_edit | tee logs/bench_edit.log
mkdir -p checkpoints/figures
cp outputs/bench_edit/*.png checkpoints/figures/
