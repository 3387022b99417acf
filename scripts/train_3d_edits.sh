#!/usr/bin/env bash
# Train the shipped 3-D edit models (SDF, then colored fields), then their FlatMLPEditNet baselines
# (scripts/train_3d_baselines.sh), one after the other (never two torch jobs at once on 2 cores). Resumable: rerun to
# continue.
# Logs in logs/. Needs zoos/sdf and zoos/fields (bash scripts/fit_zoos.sh). THREADS (default 2): torch's threads.
# Then: bash scripts/publish_3d_edits.sh copies the best models into checkpoints/ and measures them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
train() { local name=$1; shift; echo "== $name: dws-edit train edit $*"; .venv/bin/dws-edit train edit "$@" --out "runs/$name" > "logs/train_$name.log" 2>&1; tail -2 "logs/train_$name.log"; }
COMMON=(--batch-size 32 --points 2048 --lr 1e-3 --eval-every 500 --val-count 256 --outputs 2 --threads "${THREADS:-2}")
# sdf-symmetrize and sdf-remove also take the loss gradient (README "3-D edit models"): 2,000 and 3,000 steps.
# sdf-remove, sdf-remove_part and sdf-remove_sphere keep the source network and learn a correction (--keep with
# one correction: the same 2x width as k = 2); sdf-remove then 3,000 more steps at lr 5e-4 from its first run.
KEEP=(--batch-size 32 --points 2048 --eval-every 500 --val-count 256 --outputs 1 --keep --threads "${THREADS:-2}")
train sdf-symmetrize --edit symmetrize --zoo zoos/sdf --steps 2000 "${COMMON[@]}" --gradient
train sdf-remove-keep --edit remove --zoo zoos/sdf --steps 3000 --lr 1e-3 "${KEEP[@]}" --gradient
train sdf-remove --edit remove --zoo zoos/sdf --steps 3000 --lr 5e-4 "${KEEP[@]}" --gradient \
  --init runs/sdf-remove-keep/best.safetensors
# sdf-symmetrize then refines in a second pass (README "3-D edit models"; the shipped one started from the published
# copy of runs/sdf-symmetrize: the same weights, its card's started_from gives the SHA-256)
train sdf-symmetrize-p2 --edit symmetrize --zoo zoos/sdf --batch-size 32 --points 2048 --lr 5e-4 --eval-every 200 \
  --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --passes 2 --steps 1000 \
  --init runs/sdf-symmetrize/best.safetensors
# then 1,500 two-pass steps with a surface-band loss (the shipped one started from the float16 published copy of
# runs/sdf-symmetrize-p2, its card's started_from)
train sdf-symmetrize-band --edit symmetrize --zoo zoos/sdf --batch-size 32 --points 2048 --lr 5e-4 --eval-every 500 \
  --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --passes 2 --steps 1500 --clamp 0.05 \
  --target-near 0.5 --init runs/sdf-symmetrize-p2/best.safetensors
# then a third and a fourth pass, 1,200 steps each with the same loss (the shipped third started from the float16
# published copy of runs/sdf-symmetrize-band, the fourth from runs/x-sdf-symmetrize-p3: its card's started_from)
from=band
for passes in 3 4; do
  train "sdf-symmetrize-p$passes" --edit symmetrize --zoo zoos/sdf --batch-size 32 --points 2048 --lr 5e-4 \
    --eval-every 300 --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --passes "$passes" --steps 1200 \
    --clamp 0.05 --target-near 0.5 --init "runs/sdf-symmetrize-$from/best.safetensors"
  from=p$passes
done
train sdf-remove_part --edit remove_part --zoo zoos/sdf --steps 4000 --lr 1e-3 "${KEEP[@]}" --clamp 0.05 \
  --target-near 0.5  # a surface-band loss (README "3-D edit models")
train sdf-smooth --edit smooth --zoo zoos/sdf --steps 4000 "${COMMON[@]}"
train sdf-remove_sphere --edit remove_sphere --zoo zoos/sdf --steps 5000 --lr 1e-3 "${KEEP[@]}" --gradient
# sdf-remove and sdf-remove_sphere then continue 2,000 steps with a surface-band loss, as sdf-remove_part's (README
# "3-D edit models"); publish_3d_edits.sh ships these -band runs
for edit in remove remove_sphere; do
  train "sdf-$edit-band" --edit "$edit" --zoo zoos/sdf --steps 2000 --lr 5e-4 "${KEEP[@]}" --gradient \
    --clamp 0.05 --target-near 0.5 --init "runs/sdf-$edit/best.safetensors"
done
for edit in symmetrize remove remove_part smooth; do
  case $edit in  # field-symmetrize, -remove and -remove_sphere take the loss gradient (README "3-D edit models")
    symmetrize|remove) train "field-$edit" --edit "$edit" --zoo zoos/fields --steps 2000 "${COMMON[@]}" --gradient ;;
    remove_part) train "field-$edit" --edit "$edit" --zoo zoos/fields --steps 3000 --lr 1e-3 "${KEEP[@]}" \
      --clamp 0.4 --target-near 0.5 ;;  # a surface-band loss, as sdf-remove_part
    *) train "field-$edit" --edit "$edit" --zoo zoos/fields --steps 3000 "${COMMON[@]}" ;;
  esac
done
# field-symmetrize then refines in a second pass, as sdf-symmetrize (the shipped one started from the published copy of
# runs/field-symmetrize, its card's started_from)
train field-symmetrize-p2 --edit symmetrize --zoo zoos/fields --batch-size 32 --points 2048 --lr 5e-4 --eval-every 200 \
  --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --passes 2 --steps 1000 \
  --init runs/field-symmetrize/best.safetensors
# then a third pass (the shipped one started from runs/x-field-symmetrize-p2, its card's started_from)
train field-symmetrize-p3 --edit symmetrize --zoo zoos/fields --batch-size 32 --points 2048 --lr 5e-4 --eval-every 250 \
  --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --passes 3 --steps 1000 \
  --init runs/field-symmetrize-p2/best.safetensors
# field-remove, too (the shipped one started from the published copy of runs/field-remove, its card's started_from)
train field-remove-p2 --edit remove --zoo zoos/fields --batch-size 32 --points 2048 --lr 5e-4 --eval-every 200 \
  --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --passes 2 --steps 1000 \
  --init runs/field-remove/best.safetensors
train field-remove_sphere --edit remove_sphere --zoo zoos/fields --steps 2000 "${COMMON[@]}" --gradient
# then 2,000 steps with a surface-band loss, as the SDF models (publish_3d_edits.sh ships the -band run)
train field-remove_sphere-band --edit remove_sphere --zoo zoos/fields --steps 2000 --lr 5e-4 --batch-size 32 \
  --points 2048 --eval-every 500 --val-count 256 --outputs 2 --threads "${THREADS:-2}" --gradient --clamp 0.4 \
  --target-near 0.5 --init runs/field-remove_sphere/best.safetensors
bash scripts/train_3d_baselines.sh
