#!/usr/bin/env bash
# The commands behind docs/benchmarks.md. Run after `make build`, from the repository root:
#   tools/run_benchmarks.sh models/onet_procedural.pt [models/conv_onet_procedural.pt]
# Writes docs/eval/<model name>/...; the first model also gets the classical baselines
# (BASELINES=0 skips them, e.g. to evaluate a second model in a parallel run).
set -euo pipefail
export PATH=$PWD/.venv/bin:$PATH AMENT_PREFIX_PATH=$PWD/.venv
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
. install/setup.bash
set -u
occnet() { python -P -m occnet_ros.cli "$@"; }
first=${BASELINES:-1}
for model in "$@"; do
  name=$(basename "$model" .pt)
  out=docs/eval/$name
  mkdir -p "$out"
  methods=occnet
  [ "$first" = 1 ] && methods=occnet,tsdf,poisson,hull
  # held-out procedural test split (seeds never used in training), 5 views, 2 shapes per category
  occnet eval --checkpoint "$model" --split test --per-category 2 --views 5 --methods "$methods" \
    --json "$out/test_5views.json" --report "$out/test_5views"
  # quality vs number of views, one shape of each of the first 5 categories
  occnet eval --checkpoint "$model" --split test --per-category 1 --limit 5 --views 1,3,5,10 --methods "$methods" \
    --surface-samples 30000 --json "$out/views.json" --report "$out/views"
  # category-free shapes no model was trained on ("unseen")
  occnet eval --checkpoint "$model" --split test --categories primitives --per-category 6 --views 5 --methods "$methods" \
    --json "$out/unseen_5views.json" --report "$out/unseen_5views"
  # validation split (the model card's numbers)
  occnet eval --checkpoint "$model" --split val --per-category 1 --views 5 --methods occnet --json "$out/val_5views.json"
  occnet bench --checkpoint "$model" --runs 3 --json "$out/bench.json"
  first=0
done
