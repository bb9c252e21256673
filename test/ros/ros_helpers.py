"""Helpers for tests that use the real rclpy: a context per test, spin until a condition; and for
the tests that run the real ROS 2 tools (launch, ros2cli, tf2_ros, message_filters).

Those tools come from a sourced ROS 2 or from the upstream Jazzy sources `make build` colcon-builds
from ../shared/ros2-jazzy-src into ros2_ws/. Where neither is there, their tests are skipped with
``MISSING`` as the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def ros_context() -> Iterator[rclpy.context.Context]:
    context = rclpy.context.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


def spin_until(nodes, condition: Callable[[], bool], timeout: float = 20.0, context=None) -> bool:
    """Spin the nodes until condition() holds or the deadline passes; returns condition()."""
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    deadline = time.monotonic() + timeout
    try:
        while not condition() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        for node in nodes:
            executor.remove_node(node)
        executor.shutdown()
    return condition()


def node_executable(name: str) -> Path:
    """The installed node script (colcon install tree), as `ros2 run` would find it."""
    prefix = Path(os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)[0])
    for root in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        candidate = Path(root) / "lib" / "occnet_ros" / f"{name}_node"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{name}_node not installed under AMENT_PREFIX_PATH ({prefix}); run make build")


def start_node(name: str, *ros_args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(node_executable(name)), "--ros-args", *ros_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def stop_node(process: subprocess.Popen, timeout: float = 20.0) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def call_service(node, client, request, context=None, attempts: int = 6, timeout: float = 10.0):
    """The response of a service call, retried: a request sent right after discovery can be lost
    while the server has not yet matched the client's reply reader (busy nodes, 2 cores).
    Services called here are idempotent (parameter reads, list/save/forget on test state)."""
    assert spin_until([node], client.service_is_ready, timeout=60, context=context), f"service {client.srv_name} never appeared"
    for _ in range(attempts):
        future = client.call_async(request)
        if spin_until([node], future.done, timeout=timeout, context=context):
            return future.result()
        client.remove_pending_request(future)
    raise AssertionError(f"service {client.srv_name}: no reply to {attempts} requests")


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


class StubPipeline:
    """The reconstruction node's pipeline without the model: an icosphere around the cloud's
    centre, at once (``monkeypatch.setattr(ReconstructionNode, "_load_pipeline", ...)``);
    ``fail = True`` makes every run raise."""

    fail = False

    def run(self, points, previous=None, views=None, class_name=""):
        import numpy as np
        import trimesh

        from occnet_ros.complete.object_frame import ObjectFrame
        from occnet_ros.complete.pipeline import ObjectMesh

        if self.fail:
            raise RuntimeError("model failed (stub)")
        centre = points.mean(axis=0)
        sphere = trimesh.creation.icosphere(subdivisions=1, radius=0.1)
        pose = np.eye(4)
        pose[:3, 3] = centre
        return ObjectMesh(sphere.copy().apply_translation(centre), sphere, ObjectFrame(pose, np.full(3, 0.2), 0.0),
                          watertight=True, points=len(points), timings={})


class Probe:
    """A node beside the one under test: publishes observations, calls its services."""

    def __init__(self, runner) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray

        from occnet_ros.msg import ObjectObservation
        from occnet_ros.srv import ListObjects, Reconstruct, SaveMeshes

        self.context = runner.context
        self.node = rclpy.create_node("reconstruction_boundary_probe", context=runner.context)
        self.publisher = self.node.create_publisher(ObjectObservation, "objects/observations", 50)
        self.diagnostics: list = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.list = self.node.create_client(ListObjects, "reconstruction/list_objects")
        self.save = self.node.create_client(SaveMeshes, "reconstruction/save_meshes")
        self.reconstruct = self.node.create_client(Reconstruct, "reconstruction/reconstruct")
        assert self.spin(lambda: self.publisher.get_subscription_count() > 0, 30)

    def spin(self, condition, timeout: float = 20.0) -> bool:
        return spin_until([self.node], condition, timeout=timeout, context=self.context)

    def observe(self, obj_id: int) -> None:
        import numpy as np
        from std_msgs.msg import Header

        from occnet_ros.msg import ObjectObservation
        from occnet_ros.nodes.conversions import xyz_cloud

        header = Header(frame_id="map")
        points = np.random.default_rng(obj_id).normal(scale=0.05, size=(300, 3)) + [0.0, 0.0, 0.5]
        self.publisher.publish(ObjectObservation(header=header, id=obj_id, class_name="box", cloud=xyz_cloud(points, header),
                                                 action=ObjectObservation.ACTION_UPDATE, request_reconstruction=False))

    def listed(self) -> list[int]:
        from occnet_ros.srv import ListObjects

        return sorted(o.id for o in call_service(self.node, self.list, ListObjects.Request(), context=self.context).objects)

    def call(self, client, request):
        return call_service(self.node, client, request, context=self.context)
