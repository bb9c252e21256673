#!/usr/bin/env bash
# The ROS 2 message wheels' CMake exports name the wheel builder's Python and numpy include
# directories (/opt/python/cpXY-cpXY/...). Point them at this venv's instead. Idempotent.
set -euo pipefail
venv=${1:-.venv}
pyinc=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
npinc=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')
files=$(grep -rlE '/opt/python/cp[0-9]+' "$venv/share" --include='*.cmake' 2>/dev/null || true)
[ -z "$files" ] && exit 0
echo "$files" | xargs -r sed -i -E \
  -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$npinc#g" \
  -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python3\.[0-9]+#$pyinc#g"
