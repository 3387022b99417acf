#!/usr/bin/env bash
# The validation tasks of docs/tasks.md at the cpu preset, from the zoos of scripts/fit_zoos.sh (fmnist,
# fmnist-loop-test, mnist5k, mnist5k-loop, sines, sdf), the pretraining benchmarks, then the tasks' shipped models
# published with their measured quality. Each command resumes where it stopped; logs go to logs/. About 2.5 hours on
# a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs
run() { local name=$1; shift; echo "== $name: dws-edit $*"; .venv/bin/dws-edit "$@" > "logs/task_$name.log" 2>&1; tail -14 "logs/task_$name.log"; }
run classify-fmnist train classify --zoo zoos/fmnist --loop-zoo zoos/fmnist-loop-test
run classify-fmnist-probes8 train classify --zoo zoos/fmnist --loop-zoo zoos/fmnist-loop-test --models dws --seeds 0 --probes 8 --out runs/classify-fmnist-probes8
run classify-fmnist-weights-only train classify --zoo zoos/fmnist --loop-zoo zoos/fmnist-loop-test --models dws --probes 0 --seeds 0 --out runs/classify-fmnist-weights-only
run classify-mnist train classify --zoo zoos/mnist5k --loop-zoo zoos/mnist5k-loop --models dws mlp --seeds 0 --probes 4
run classify-sdf train classify --zoo zoos/sdf --models dws mlp --seeds 0 --probes 4 --out runs/classify-sdf
run ssl train ssl --zoo zoos/sines
run ssl-probe-mlp train ssl --zoo zoos/sines --models probe-mlp --out runs/ssl-sines-probe-mlp
run fit-classifiers fit classifiers --out zoos/fmnist-classifiers
run adapt train adapt --zoo zoos/fmnist-classifiers
run pretrain-image bench pretrain --encoder runs/classify-fmnist-probes8/dws-seed0/best.safetensors --edit symmetrize --zoo zoos/fmnist --steps 600 --seeds 0 1 2 --out runs/bench-pretrain-image
run pretrain-sdf bench pretrain --encoder runs/classify-sdf/dws-seed0/best.safetensors --edit symmetrize --zoo zoos/sdf --steps 600 --seeds 0 1 2 --out runs/bench-pretrain-sdf
.venv/bin/dws-edit models publish runs/classify-fmnist/dws-seed0 --name fmnist-classifier
.venv/bin/dws-edit models publish runs/classify-mnist5k/dws-seed0 --name mnist-classifier
.venv/bin/dws-edit models publish runs/ssl-sines/dws-seed0 --name sines-encoder
.venv/bin/dws-edit models publish runs/adapt-fmnist-classifiers/dws-seed0 --name fmnist-adapter
