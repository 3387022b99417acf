#!/usr/bin/env bash
# The README's image-dilate rows: the shipped model and the previous, weights-only one (from git history, commit
# e3c4478, as image-dilate-v1) measured in ONE run of dws-edit bench edit, in a copy of checkpoints/ (the shipped
# cards are not touched; after a retraining, publish into checkpoints/ first). Needs zoos/mnist5k.
set -euo pipefail
cd "$(dirname "$0")/.."
ck=$(mktemp -d)
cp -r checkpoints/. "$ck"
git show e3c4478:checkpoints/image-dilate.safetensors > "$ck/image-dilate-v1.safetensors"
git show e3c4478:checkpoints/image-dilate.json | .venv/bin/python -c "
import json, sys; c = json.load(sys.stdin); c['name'] = 'image-dilate-v1'; print(json.dumps(c, indent=2))" \
  > "$ck/image-dilate-v1.json"
cp checkpoints/baselines/image-dilate-mlp.safetensors "$ck/baselines/image-dilate-v1-mlp.safetensors"
cp checkpoints/baselines/image-dilate-mlp.json "$ck/baselines/image-dilate-v1-mlp.json"
DWS_EDIT_CHECKPOINTS="$ck" .venv/bin/dws-edit bench edit --models image-dilate image-dilate-v1 --out outputs/bench_dilate
