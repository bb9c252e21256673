#!/usr/bin/env bash
# The commands behind docs/benchmarks.md. Run after `make build`, from the repository root:
#   tools/run_benchmarks.sh models/conv_onet_procedural.pt [models/onet_procedural.pt]
# Writes docs/eval/<model name>/...; the first model also gets its prior alone and the classical baselines
# (BASELINES=0 skips them, e.g. to evaluate a second model in a parallel run; EVAL=0 or BENCH=0
# skips the evaluations or `occnet bench`, so benches can run alone for clean timings; SENSOR=hololens2_long_throw
# renders every split with that sensor preset instead of `basic` and writes docs/eval/<model name>/<preset>/...).
# RESAMPLINGS=K sets `--input-resamplings` (default: the reconstruction's, 4; the models measured before test-time
# ensembling, conv_onet_evidence, conv_onet_sensor and conv_onet_procedural, ran with RESAMPLINGS=1, one draw).
# UNSEEN_PER_CATEGORY (default 10) and FOREIGN_LIMIT (default 20) size the unseen and foreign splits; the sensor-true
# baselines exist for the first 3 + 3 and 6 objects (the splits' size before 2026-12-07), so a sensor-true re-run of one
# model takes UNSEEN_PER_CATEGORY=3 FOREIGN_LIMIT=6 to stay comparable with them.
# Then: tools/run_finetune_study.sh (fine-tuning gain) and python tools/benchmarks_md.py.
set -euo pipefail
export PATH=$PWD/.venv/bin:$PATH AMENT_PREFIX_PATH=$PWD/.venv
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1091
. install/setup.bash
set -u
occnet() { python -P -m occnet_ros.cli "$@"; }
resamplings=()
[ -n "${RESAMPLINGS:-}" ] && resamplings=(--input-resamplings "$RESAMPLINGS")
# the training configs (config/train/onet_procedural.yaml) hold bowl and sofa out entirely
SEEN=chair,table,mug,bottle,cabinet,lamp,monitor,shelf,primitives
UNSEEN=bowl,sofa
first=${BASELINES:-1}
for model in "$@"; do
  name=$(basename "$model" .pt)
  out=docs/eval/$name${SENSOR:+/$SENSOR}
  mkdir -p "$out"
  methods=occnet
  # the first model also runs its prior alone (before/after the evidence) and the classical baselines
  [ "$first" = 1 ] && methods=occnet,occnet_prior,tsdf,poisson,hull
  if [ "${EVAL:-1}" = 1 ]; then
    # (a) validation split of the training categories (seeds 1,000,000+), one shape each
    occnet eval --checkpoint "$model" --split val --categories "$SEEN" --per-category 1 --views 1,3,5,10 \
      --methods "$methods" --sensor "${SENSOR:-basic}" --surface-samples 50000 "${resamplings[@]}" --json "$out/val_views.json" --report "$out/val_views"
    # (b) unseen categories: test shapes (seeds 2,000,000+) of the two held-out categories
    occnet eval --checkpoint "$model" --split test --categories "$UNSEEN" --per-category "${UNSEEN_PER_CATEGORY:-10}" --views 1,3,5,10 \
      --methods "$methods" --sensor "${SENSOR:-basic}" --surface-samples 50000 "${resamplings[@]}" --json "$out/unseen_views.json" --report "$out/unseen_views"
    # (c) shapes the generator did not make: 20 of the pybullet wheel's test objects (950-999, never trained on)
    occnet eval --checkpoint "$model" --split test --foreign --limit "${FOREIGN_LIMIT:-20}" --views 1,3,5,10 \
      --methods "$methods" --sensor "${SENSOR:-basic}" --surface-samples 50000 "${resamplings[@]}" --json "$out/foreign_views.json" --report "$out/foreign_views"
    # (d) real indoor furniture: the sweethome3d-furniture test split (about 10% of the models by id, never trained on)
    occnet eval --checkpoint "$model" --split test --foreign furniture --views 3,5 \
      --methods "$methods" --sensor "${SENSOR:-basic}" --surface-samples 50000 "${resamplings[@]}" --json "$out/furniture_views.json" --report "$out/furniture_views"
  fi
  [ "${BENCH:-1}" = 1 ] && [ -z "${SENSOR:-}" ] && occnet bench --checkpoint "$model" --runs 3 "${resamplings[@]}" --json "$out/bench.json"
  first=0
done
