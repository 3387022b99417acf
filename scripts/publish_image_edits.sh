#!/usr/bin/env bash
# After scripts/train_image_edits.sh: copy the best two-pass models into checkpoints/ (baselines into
# checkpoints/baselines/), measure them all on held-out INRs in one run, and write the measured
# quality into their cards and the figures into checkpoints/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
for edit in symmetrize remove smooth dilate; do
  run="runs/image-$edit-p2"; [ -f "$run"b/best.safetensors ] && run="$run"b  # each edit's last run (smooth: p2b)
  .venv/bin/dws-edit models publish "$run" --name "image-$edit"
  .venv/bin/dws-edit models publish "runs/image-$edit-mlp" --name "image-$edit-mlp" --baseline
done
.venv/bin/dws-edit bench edit --write-cards --out outputs/bench_edit | tee logs/bench_edit.log
mkdir -p checkpoints/figures
cp outputs/bench_edit/*.png checkpoints/figures/
