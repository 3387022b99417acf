#!/usr/bin/env bash
# After scripts/train_3d_edits.sh: copy the best 3-D models into checkpoints/ (their FlatMLPEditNet baselines stay in
# runs/, where the bench finds them: checkpoints/ stays under 50 MB), measure them on held-out shapes in one run per
# domain, and write the measured quality into their cards, checkpoints/README.md and checkpoints/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
last_stage() { .venv/bin/python -c 'import sys; from dws_edit.tasks.recipes import RECIPES; print(RECIPES[sys.argv[1]][-1].name)' "$1"; }
for domain in sdf field; do
  published=0
  for edit in symmetrize remove remove_part smooth remove_sphere; do
    # a model's recipe's last stage, where scripts/train_3d_edits.sh trained it (dws_edit/tasks/recipes.py); stored
    # as float16 (half the file, the same measurements to the printed digits; checkpoints/ stays under 50 MB)
    run="runs/$(last_stage "$domain-$edit")"
    if [ -f "$run/best.safetensors" ]; then
      .venv/bin/dws-edit models publish "$run" --name "$domain-$edit" --half
      published=1
    fi
  done
  if [ "$published" = 1 ]; then
    # the settings of the measurements in docs/benchmarks.md (fields: fewer INRs and meshes, their renders cost more)
    sizes=(--count 32); [ "$domain" = field ] && sizes=(--count 16 --mesh-count 4)
    .venv/bin/dws-edit bench edit --domain "$domain" "${sizes[@]}" --finetune-steps 5 20 100 500 --hybrid-steps 5 20 \
      --threads 2 --held-out-draws 4 --write-cards --out "outputs/bench_edit_$domain" \
      | tee "logs/bench_edit_$domain.log"
    mkdir -p checkpoints/figures
    cp "outputs/bench_edit_$domain"/*.png checkpoints/figures/
  fi
done
