"""Shared by the tests that run the real ROS 2 tools (launch, ros2cli, tf2_ros, message_filters).

They come from a sourced ROS 2 or from the upstream Jazzy sources `make build` colcon-builds
from ../shared/ros2-jazzy-src into ros2_ws/. Where neither is there, these tests are skipped
with ``MISSING`` as the reason. Also puts test/ and test/ros/ on sys.path, so ``ros_helpers``
and ``tiny`` import wherever they live.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for _folder in (HERE, HERE.parent):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

TOOLS = ("launch", "launch_ros", "launch_testing", "ros2cli", "tf2_ros", "tf2_msgs.srv", "message_filters", "sensor_msgs_py")


def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing_tools() -> str | None:
    """None when every tool is importable and `ros2` is on PATH, else the skip reason."""
    absent = [m for m in TOOLS if not _find(m)] + ([] if shutil.which("ros2") else ["the ros2 command"])
    if not absent:
        return None
    return (f"ROS 2 tools absent ({', '.join(absent)}): no ROS 2 sourced and no ../shared/ros2-jazzy-src "
            "at `make build` time (the nodes fall back to their own synchroniser and /tf listener)")


MISSING = missing_tools()
requires_ros_tools = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(step)
    return True


def ros2(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run the ros2 CLI (the real one), output captured."""
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout)


def ros2_until(args: list[str], accept: Callable[[subprocess.CompletedProcess], bool], timeout: float = 90.0):
    """Rerun a ros2 CLI query until accept(result) holds (discovery takes a moment) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = ros2(*args, timeout=max(10.0, deadline - time.monotonic()))
        if accept(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def start_launch(*args: str) -> subprocess.Popen:
    """`ros2 launch occnet_ros ...` in its own process group, as a user starts it."""
    return subprocess.Popen(["ros2", "launch", "occnet_ros", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def stop_launch(process: subprocess.Popen, timeout: float = 60.0) -> tuple[int, str]:
    """SIGINT to `ros2 launch` (what Ctrl-C does); returns its exit code and output."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        return -9, out
    return process.returncode, out
