#!/usr/bin/env bash
# Train the shipped image edit models and their FlatMLPEditNet baselines (same data, steps and batch), one
# after the other (never two torch jobs at once on 2 cores). Resumable: rerun to continue. Logs in logs/.
# Then: bash scripts/publish_image_edits.sh copies the best models into checkpoints/ and measures them.
# image-dilate, image-remove and image-symmetrize also take the gradient of the edit's loss (--gradient, README
# "Design levers"); image-smooth was trained before that option existed. image-remove and image-symmetrize train on
# zoos/fmnist12k (the machine that retrained them had no time for the full zoo); their shipped MLP baselines were
# trained on the full zoos/fmnist for 7,000 steps (more data and steps than the DWS models now have).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
train() { local name=$1; shift; echo "== $name: dws-edit train edit $*"; .venv/bin/dws-edit train edit "$@" --out "runs/$name" > "logs/train_$name.log" 2>&1; tail -3 "logs/train_$name.log"; }
COMMON=(--batch-size 64 --lr 1e-3 --eval-every 500 --outputs 2)
train image-symmetrize     --edit symmetrize --zoo zoos/fmnist12k --steps 4000 "${COMMON[@]}" --gradient
train image-remove         --edit remove     --zoo zoos/fmnist12k --steps 4000 "${COMMON[@]}" --gradient
train image-smooth         --edit smooth     --zoo zoos/fmnist   --steps 5000 "${COMMON[@]}"
train image-dilate         --edit dilate     --zoo zoos/mnist5k  --steps 4000 "${COMMON[@]}" --gradient
train image-symmetrize-mlp --edit symmetrize --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}" --model mlp --depth 3
train image-remove-mlp     --edit remove     --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}" --model mlp --depth 3
train image-smooth-mlp     --edit smooth     --zoo zoos/fmnist   --steps 5000 "${COMMON[@]}" --model mlp --depth 3
train image-dilate-mlp     --edit dilate     --zoo zoos/mnist5k  --steps 4000 "${COMMON[@]}" --model mlp --depth 3
