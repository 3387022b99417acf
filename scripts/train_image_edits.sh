#!/usr/bin/env bash
# Train the shipped image edit models and their FlatMLPEditNet baselines (same data, steps and batch), one
# after the other (never two torch jobs at once on 2 cores). Resumable: rerun to continue. Logs in logs/.
# Then: bash scripts/publish_image_edits.sh copies the best models into checkpoints/ and measures them.
# image-dilate also takes the gradient of the edit's loss (--gradient, README "Design levers"); the other three
# shipped image models were trained before that option existed (retraining them with it is the next step).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
train() { local name=$1; shift; echo "== $name: dws-edit train edit $*"; .venv/bin/dws-edit train edit "$@" --out "runs/$name" > "logs/train_$name.log" 2>&1; tail -3 "logs/train_$name.log"; }
COMMON=(--batch-size 64 --lr 1e-3 --eval-every 500 --outputs 2)
train image-symmetrize     --edit symmetrize --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}"
train image-remove         --edit remove     --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}"
train image-smooth         --edit smooth     --zoo zoos/fmnist   --steps 5000 "${COMMON[@]}"
train image-dilate         --edit dilate     --zoo zoos/mnist5k  --steps 4000 "${COMMON[@]}" --gradient
train image-symmetrize-mlp --edit symmetrize --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}" --model mlp --depth 3
train image-remove-mlp     --edit remove     --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}" --model mlp --depth 3
train image-smooth-mlp     --edit smooth     --zoo zoos/fmnist   --steps 5000 "${COMMON[@]}" --model mlp --depth 3
train image-dilate-mlp     --edit dilate     --zoo zoos/mnist5k  --steps 4000 "${COMMON[@]}" --model mlp --depth 3
