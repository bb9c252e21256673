#!/usr/bin/env bash
# The wheels the lent GPU machine's Python 3.12 lacks to import the training code (it has torch,
# numpy, scipy, scikit-image, yaml, tqdm; not trimesh, manifold3d, rtree), pinned to this venv's
# versions, into .whl/ (git-ignored; name it in the device tool's carry). Needs PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${OCCNET_PY:-.venv/bin/python}
mkdir -p .whl
for package in trimesh manifold3d rtree; do
  version=$("$PY" -c "import importlib.metadata as m; print(m.version('$package'))")
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "$package==$version"
done
ls -l .whl
