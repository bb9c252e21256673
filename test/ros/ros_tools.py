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


def synthetic_frame(stamp_s: float, frame_id: str = "hl2_depth_optical", jitter_s: float = 0.0):
    """(depth, camera info, segmentation) of a 1.5 m plane with one 30x30 px 'box' instance.

    Camera info and segmentation are stamped ``jitter_s`` after the depth (approximate sync).
    """
    import numpy as np
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    from occnet_ros.msg import InstanceInfo, Segmentation
    from occnet_ros.nodes.conversions import array_to_image

    def header(t: float) -> Header:
        return Header(stamp=Time(sec=int(t), nanosec=int(round((t - int(t)) * 1e9))), frame_id=frame_id)

    width, height = 80, 60
    depth = np.full((height, width), 1500, np.uint16)
    ids = np.zeros((height, width), np.uint16)
    ids[15:45, 25:55] = 1
    info = CameraInfo(header=header(stamp_s + jitter_s), width=width, height=height, distortion_model="plumb_bob",
                      k=[60.0, 0.0, 40.0, 0.0, 60.0, 30.0, 0.0, 0.0, 1.0], d=[0.0] * 5)
    seg_header = header(stamp_s + jitter_s)
    seg = Segmentation(header=seg_header, instance_image=array_to_image(ids, "16UC1", seg_header))
    seg.instances = [InstanceInfo(id=1, class_name="box", score=0.9)]
    return array_to_image(depth, "16UC1", header(stamp_s)), info, seg


def transform(parent: str, child: str, stamp_s: float, z: float = 0.0):
    """A TransformStamped child in parent: translation (0, 0, z), identity rotation."""
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import TransformStamped

    t = TransformStamped()
    t.header.stamp = Time(sec=int(stamp_s), nanosec=int(round((stamp_s - int(stamp_s)) * 1e9)))
    t.header.frame_id, t.child_frame_id = parent, child
    t.transform.translation.z = z
    t.transform.rotation.w = 1.0
    return t
