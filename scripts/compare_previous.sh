#!/usr/bin/env bash
# Measure shipped edit models and their previous versions (from git history, as NAME-v1) in ONE run of
# dws-edit bench edit, in a copy of checkpoints/. Both versions use the shipped FlatMLPEditNet baseline.
#   bash scripts/compare_previous.sh [--write-cards] [--all] [--zoo ZOO] COMMIT NAME... [-- BENCH OPTIONS]
# --zoo ZOO: measure the previous versions on ZOO's test split instead of the one their cards name (held out
#   from both versions' training). --write-cards: the shipped models' cards, figures and checkpoints/README.md
#   get this run's measurements (the v1 copies stay out of checkpoints/). --all: every other shipped model of the
#   domain is measured in the same run too (and with --write-cards gets its card rewritten), so that a domain's
#   table comes from one run. Models of one domain per call.
#   bash scripts/compare_previous.sh e3c4478 image-dilate
#   bash scripts/compare_previous.sh --write-cards --zoo zoos/fmnist12k 83b6291 image-remove image-symmetrize
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: compare_previous.sh [--write-cards] [--all] [--zoo ZOO] COMMIT NAME... [-- BENCH OPTIONS]"
write=() zoo="" all=0
while [ $# -gt 0 ]; do
  case $1 in
    --write-cards) write=(--write-cards); shift ;;
    --all) all=1; shift ;;
    --zoo) zoo=${2:?$usage}; shift 2 ;;
    *) break ;;
  esac
done
commit=${1:?$usage}; shift
names=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#names[@]} -gt 0 ] || { echo "$usage" >&2; exit 2; }
domain=${names[0]%%-*}
out="outputs/compare_${domain}"
ck=$(mktemp -d)
trap 'rm -rf "$ck"' EXIT
cp -r checkpoints/. "$ck"
models=()
for name in "${names[@]}"; do
  git show "$commit:checkpoints/$name.safetensors" > "$ck/$name-v1.safetensors"
  git show "$commit:checkpoints/$name.json" | ZOO="$zoo" .venv/bin/python -c "
import json, os, sys
c = json.load(sys.stdin)
c['name'] += '-v1'
if os.environ['ZOO']:
    c['data']['zoo'] = os.environ['ZOO']
print(json.dumps(c, indent=2))" > "$ck/$name-v1.json"
  if [ -f "checkpoints/baselines/$name-mlp.json" ]; then
    cp "checkpoints/baselines/$name-mlp.safetensors" "$ck/baselines/$name-v1-mlp.safetensors"
    cp "checkpoints/baselines/$name-mlp.json" "$ck/baselines/$name-v1-mlp.json"
  fi
  models+=("$name" "$name-v1")
done
shipped=("${names[@]}")
if [ "$all" = 1 ]; then
  for card in checkpoints/"$domain"-*.json; do
    other=$(basename "$card" .json)
    [[ " ${names[*]} " == *" $other "* ]] || { models+=("$other"); shipped+=("$other"); }
  done
fi
case $domain in image) flag=() ;; *) flag=(--domain "$domain") ;; esac
DWS_EDIT_CHECKPOINTS="$ck" .venv/bin/dws-edit bench edit "${flag[@]}" --models "${models[@]}" "${write[@]}" \
  --out "$out" "$@"
if [ ${#write[@]} -gt 0 ]; then
  mkdir -p checkpoints/figures
  for name in "${shipped[@]}"; do
    cp "$ck/$name.safetensors" "$ck/$name.json" checkpoints/
    cp "$out/$name-before-after.png" "$out/$name-error-vs-time.png" checkpoints/figures/
  done
  .venv/bin/python -c "from dws_edit.bench.cards import write_index; print('wrote', write_index())"
fi
