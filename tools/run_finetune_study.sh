#!/usr/bin/env bash
# Fine-tuning gain on unseen categories (the seed's recipe: pre-train broadly, fine-tune on the
# deployment's objects). Run after `make build` and tools/run_benchmarks.sh, from the repository root:
#   tools/run_finetune_study.sh models/conv_onet_procedural.pt [minutes]
# Fine-tunes on 5 training-seed shapes each of the held-out categories (bowl, sofa), then evaluates
# on their test shapes: the same objects and views as docs/eval/<model>/unseen_views.json (zero-shot).
set -euo pipefail
export PATH=$PWD/.venv/bin:$PATH AMENT_PREFIX_PATH=$PWD/.venv
set +u
# shellcheck disable=SC1091
. install/setup.bash
set -u
occnet() { python -P -m occnet_ros.cli "$@"; }
model=$1
minutes=${2:-10}
name=$(basename "$model" .pt)
meshes=data/finetune_unseen
out=docs/eval/finetune_$name
mkdir -p "$out"
occnet shapes --categories bowl,sofa --split train --count 5 --out "$meshes"
rm -rf "runs/finetune_$name"
occnet train --init "$model" --meshes "$meshes" --max-minutes "$minutes" --out-dir "runs/finetune_$name" 2>/dev/null
cp "runs/finetune_$name/metrics.jsonl" "$out/metrics.jsonl"
occnet eval --checkpoint "runs/finetune_$name/best.pt" --split test --categories bowl,sofa --per-category 4 --views 1,3,5,10 \
  --methods occnet --json "$out/unseen_views.json"
# zero-shot: the model as shipped on the same 4 + 4 test shapes and views (the study's reference)
occnet eval --checkpoint "$model" --split test --categories bowl,sofa --per-category 4 --views 1,3,5,10 \
  --methods occnet --json "$out/zero_shot_views.json"
