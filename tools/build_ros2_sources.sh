#!/usr/bin/env bash
# Colcon-build the upstream ROS 2 Jazzy sources that PyPI has no wheels for (launch, launch_ros,
# ros2cli, tf2/tf2_py/tf2_ros_py/tf2_msgs, vision_msgs, sensor_msgs_py, composition_interfaces,
# rosidl_runtime_py) from their tarballs into a git-ignored workspace, against the venv's wheels.
# message_filters is extracted but not built (its CMake needs rclcpp, which has no wheel); its
# pure-Python module is used from ros2_ws/src/message_filters/src (the Makefile's env setup adds it).
# Cached: a stamp holds the tarballs' and the interpreter's hash; an unchanged input is a no-op.
#   usage: tools/build_ros2_sources.sh SRC_DIR WS_DIR VENV
set -euo pipefail
src=${1:?source folder}
ws=${2:?workspace folder}
venv=${3:?venv}
stamp=$ws/.occnet-stamp
shopt -s nullglob
tarballs=("$src"/*.tar.gz)
if [ ${#tarballs[@]} -eq 0 ]; then
  [ "$src" = none ] && src="(ROS2_SRC is empty)"
  echo "[occnet] no ROS 2 Jazzy sources in $src: launch, ros2cli, tf2_ros and message_filters are unavailable (built-in fallbacks used; their tests are skipped)"
  exit 0
fi
# the venv's real path is in the hash too: the built scripts' shebangs and the C extension name it
want=$( { sha256sum "${tarballs[@]}" | awk '{print $1}'; "$venv/bin/python" -c 'import sys; print(sys.version, sys.prefix)'; } | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$ws/install/setup.bash" ]; then
  exit 0
fi
case "$(basename "$ws")" in ros2_ws) ;; *) echo "[occnet] ERROR: refusing to rebuild $ws (expected a folder named ros2_ws)" >&2; exit 1 ;; esac
echo "[occnet] building the ROS 2 Jazzy sources from $src into $ws (once; about 90 s on 2 cores)"
start=$(date +%s)
rm -rf "$ws"
mkdir -p "$ws/src"
for f in "${tarballs[@]}"; do tar -xzf "$f" -C "$ws/src"; done
export PATH=$venv/bin:$PATH AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv
if ! colcon --log-base "$ws/log" build --base-paths "$ws/src" --build-base "$ws/build" --install-base "$ws/install" \
    --packages-skip message_filters --event-handlers console_cohesion- summary+ status- \
    --cmake-args -DBUILD_TESTING=OFF "-DPython3_EXECUTABLE=$venv/bin/python" > "$ws/colcon-build.txt" 2>&1; then
  tail -n 60 "$ws/colcon-build.txt"
  echo "[occnet] ERROR: colcon build of the ROS 2 sources failed (full log: $ws/colcon-build.txt)" >&2
  exit 1
fi
[ -d "$ws/src/message_filters/src/message_filters" ] || { echo "[occnet] ERROR: message_filters' Python module missing in $ws/src" >&2; exit 1; }
echo "$want" > "$stamp"
echo "[occnet] ROS 2 sources built in $(( $(date +%s) - start )) s: $(grep -E '^Summary' "$ws/colcon-build.txt" || echo '?')"
