#!/usr/bin/env bash
# One resumable chunk of a committed training config, on a CUDA GPU when there is one, else the CPU.
#
#   bash tools/device_train.sh CONFIG PACK [MINUTES]
#
# CONFIG is a committed training config (e.g. config/train/conv_onet_evidence.yaml); its data
# sources are replaced by PACK, a compact copy of its records (the GPU machine cannot make them:
# no open3d, no pybullet wheel). Prepare once, here:
#   occnet data --config CONFIG --pack data/pack/NAME --pack-mb 30   # git-ignored
#   tools/device_wheels.sh                                            # .whl/: what its Python lacks
# On a lent GPU (the device tool's `run`, carry [".whl", "data/pack/NAME"], timeout_s 600):
#   bash tools/device_train.sh CONFIG data/pack/NAME 8
# Here, the same chunk on the CPU: OCCNET_PY=.venv/bin/python bash tools/device_train.sh CONFIG PACK 30
#
# The run starts from the committed state (models/resume/NAME.last.pt, curves models/NAME.metrics.jsonl
# and models/NAME.chunks.jsonl) unless runs/NAME already holds one, trains MINUTES (default 8) and
# writes NAME.last.pt (state), NAME.best.pt (best validation IoU so far), NAME.metrics.jsonl and
# NAME.chunks.jsonl to $OUT (what the device tool brings back); without OUT they go straight to
# models/resume/ and models/ (then commit them). MODELS (default models) relocates both for tests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 CONFIG PACK [MINUTES]" >&2; exit 2; }
CONFIG=$1 PACK=$2 MINUTES=${3:-8}
PY=${OCCNET_PY:-python3}
MODELS=${MODELS:-models}
NAME=$(basename "$CONFIG" .yaml)
RUN=${RUN_DIR:-runs/$NAME}
[ -f "$CONFIG" ] || { echo "device_train: no config $CONFIG" >&2; exit 2; }
[ -d "$PACK/train" ] || { echo "device_train: no pack $PACK/train (make it with occnet data --pack)" >&2; exit 2; }

if [ -d .whl ] && ! "$PY" -c "import trimesh" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

mkdir -p "$RUN"
if [ ! -f "$RUN/last.pt" ] && [ -f "$MODELS/resume/$NAME.last.pt" ]; then
  cp "$MODELS/resume/$NAME.last.pt" "$RUN/last.pt"
  for curve in metrics chunks; do
    [ -f "$MODELS/$NAME.$curve.jsonl" ] && cp "$MODELS/$NAME.$curve.jsonl" "$RUN/$curve.jsonl"
  done
fi

# the committed config with the pack as its only data source
"$PY" - "$CONFIG" "$PACK" "$RUN" <<'PYTHON'
import os, sys, yaml
from occnet_ros.learn.config import load_config
config, pack, run = load_config(sys.argv[1]), sys.argv[2], sys.argv[3]
config.pop("inherit_from", None)
config["data"]["sources"] = [{"type": "records_dir", "path": pack}]
config["train"].update(out_dir=run, workers=int(os.environ.get("WORKERS", min(8, os.cpu_count() or 1) if os.cpu_count() > 4 else 0)))
open(f"{run}/device_config.yaml", "w").write(yaml.safe_dump(config))
PYTHON

"$PY" -m occnet_ros.cli train --config "$RUN/device_config.yaml" --max-minutes "$MINUTES" --device auto

DEST=${OUT:-}
for file in last.pt best.pt metrics.jsonl chunks.jsonl; do
  [ -f "$RUN/$file" ] || continue
  if [ -n "$DEST" ]; then
    cp "$RUN/$file" "$DEST/$NAME.$file"
  elif [ "$file" = last.pt ]; then
    mkdir -p "$MODELS/resume" && cp "$RUN/$file" "$MODELS/resume/$NAME.last.pt"
  elif [ "$file" = best.pt ]; then
    cp "$RUN/$file" "$MODELS/$NAME.best.pt"
  else
    cp "$RUN/$file" "$MODELS/$NAME.$file"
  fi
done
tail -n 1 "$RUN/chunks.jsonl"
