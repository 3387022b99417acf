#!/usr/bin/env bash
# Train the shipped image edit models and their FlatMLPEditNet baselines (same data, steps and batch), one
# after the other (never two torch jobs at once on 2 cores). Resumable: rerun to continue. Logs in logs/.
# Then: bash scripts/publish_image_edits.sh copies the best models into checkpoints/ and measures them.
# Every shipped DWS image model takes the gradient of the edit's loss (--gradient) and refines its output in a
# second pass with the gradient there (--passes 2, README "Design levers"): a one-pass model trains first, then
# the two-pass model starts from it (--init) for a shorter run. (image-remove, image-symmetrize and image-dilate
# were started from the published copies of their one-pass runs, checkpoints/image-EDIT.safetensors then: the
# same weights; their cards' started_from give the file's SHA-256.) image-remove, image-symmetrize and
# image-smooth train on zoos/fmnist12k (the machine that retrained them had no time for the full zoo); their
# shipped MLP baselines were trained on the full zoos/fmnist for 5,000 to 7,000 steps (more data and steps than
# the DWS models have).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs runs
train() { local name=$1; shift; echo "== $name: dws-edit train edit $*"; .venv/bin/dws-edit train edit "$@" --out "runs/$name" > "logs/train_$name.log" 2>&1; tail -3 "logs/train_$name.log"; }
COMMON=(--batch-size 64 --lr 1e-3 --eval-every 500 --outputs 2 --gradient)
PASS2=(--batch-size 64 --lr 5e-4 --eval-every 200 --outputs 2 --gradient --passes 2)
train image-symmetrize     --edit symmetrize --zoo zoos/fmnist12k --steps 4000 "${COMMON[@]}"
train image-symmetrize-p2  --edit symmetrize --zoo zoos/fmnist12k --steps 800  "${PASS2[@]}" --init runs/image-symmetrize/best.safetensors
train image-remove         --edit remove     --zoo zoos/fmnist12k --steps 4000 "${COMMON[@]}"
train image-remove-p2      --edit remove     --zoo zoos/fmnist12k --steps 1200 "${PASS2[@]}" --init runs/image-remove/best.safetensors
train image-smooth         --edit smooth     --zoo zoos/fmnist12k --steps 1500 "${COMMON[@]}"
train image-smooth-p2      --edit smooth     --zoo zoos/fmnist12k --steps 800  "${PASS2[@]}" --init runs/image-smooth/best.safetensors
# smooth: 800 more two-pass steps at a lower rate (the shipped one started from the published copy of image-smooth-p2)
train image-smooth-p2b     --edit smooth     --zoo zoos/fmnist12k --steps 800  "${PASS2[@]/5e-4/3e-4}" --init runs/image-smooth-p2/best.safetensors
train image-dilate         --edit dilate     --zoo zoos/mnist5k  --steps 4000 "${COMMON[@]}"
train image-dilate-p2      --edit dilate     --zoo zoos/mnist5k  --steps 800  "${PASS2[@]}" --init runs/image-dilate/best.safetensors
COMMON=(--batch-size 64 --lr 1e-3 --eval-every 500 --outputs 2)
train image-symmetrize-mlp --edit symmetrize --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}" --model mlp --depth 3
train image-remove-mlp     --edit remove     --zoo zoos/fmnist   --steps 7000 "${COMMON[@]}" --model mlp --depth 3
train image-smooth-mlp     --edit smooth     --zoo zoos/fmnist   --steps 5000 "${COMMON[@]}" --model mlp --depth 3
train image-dilate-mlp     --edit dilate     --zoo zoos/mnist5k  --steps 4000 "${COMMON[@]}" --model mlp --depth 3
