"""hl2ss_bridge node: a HoloLens 2 running hl2ss -> depth/image, depth/camera_info, TF (and depth/ray_table).

Connects to the headset (``host``), downloads the depth calibration, streams long throw or AHAT
depth with the rig pose and publishes what the observation node takes (nodes/hl2ss_convert.py):
``output: pinhole`` 32FC1 z-depth on the undistorted pinhole grid (default camera model), or
``output: radial`` 32FC1 radial metres + the latched ray table (``camera_model: ray_table``).
TF: map -> hl2_world (static, y-up to z-up), hl2_world -> hl2_rig per frame (device timestamp
as ROS time), hl2_rig -> hl2_depth_optical (static, from the calibration).

``hl2ss_client: hl2ss`` (default) uses hl2ss's Python client (its ``viewer`` folder on
PYTHONPATH; not on PyPI); without it the node says how to get it and exits 2. ``builtin`` reads
hl2ss's documented framing itself, uncompressed payloads only (tests, raw-mode servers). A lost
connection is retried with exponential back-off; state and counts go to /diagnostics.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from occnet_ros.bridge import hl2ss_protocol as proto
from occnet_ros.geometry.hl2ss_frames import MAP_FROM_HL2_WORLD, DeviceClock, split_seconds
from occnet_ros.nodes import parameters, qos
from occnet_ros.nodes.camera_models import ray_table_to_image
from occnet_ros.nodes.common import ConfigurationError, declare_parameters, run_node
from occnet_ros.nodes.conversions import array_to_image, camera_info_from_intrinsics, matrix_to_transform
from occnet_ros.nodes.hl2ss_convert import Hl2ssConverter

HL2SS_HINT = ("hl2ss's Python client is not importable. Get it with `git clone https://github.com/jdibenes/hl2ss` and put "
              "its viewer folder on PYTHONPATH (export PYTHONPATH=/path/to/hl2ss/viewer:$PYTHONPATH; it needs numpy, "
              "opencv-python and av), install the hl2ss server app on the HoloLens 2, then start this node again "
              "(or set hl2ss_client: builtin for an uncompressed stream)")


class BuiltinClient:
    """hl2ss's framing over a plain socket (bridge/hl2ss_protocol.py); raw payloads only."""

    def __init__(self, host: str, port: int, stream: str, timeout_s: float) -> None:
        self.host, self.port, self.stream, self.timeout_s = host, port, stream, timeout_s
        self.sock: socket.socket | None = None

    def _connect(self, mode: int) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        sock.sendall(bytes([mode]))
        return sock

    def calibration(self) -> proto.Calibration:
        expected = 4 * proto.calibration_floats(self.stream)
        with self._connect(proto.MODE_CALIBRATION) as sock:
            data = bytearray()
            while len(data) < expected:
                chunk = sock.recv(min(65536, expected - len(data)))
                if not chunk:
                    raise ConnectionError(f"calibration download ended after {len(data)} of {expected} bytes")
                data.extend(chunk)
        return proto.parse_calibration(bytes(data), self.stream)

    def frames(self, stop: threading.Event):
        self.sock = self._connect(proto.MODE_POSE)
        reader = proto.PacketReader(with_pose=True)
        try:
            while not stop.is_set():
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise ConnectionError("the device closed the stream")
                for packet in reader.feed(chunk):
                    yield packet.timestamp, proto.unpack_depth_payload(packet.payload, self.stream), packet.pose
        finally:
            self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Hl2ssClient:
    """hl2ss's own client (decodes PNG / H.265 / Zdepth payloads)."""

    def __init__(self, host: str, port: int, stream: str) -> None:
        import hl2ss  # noqa: F401  (checked at node start)
        import hl2ss_lnm

        self.hl2ss, self.lnm = hl2ss, hl2ss_lnm
        self.host, self.port, self.stream = host, port, stream
        self.client = None

    def calibration(self) -> proto.Calibration:
        name = "longthrow" if self.stream == "long_throw" else "ahat"
        c = getattr(self.lnm, f"download_calibration_rm_depth_{name}")(self.host, self.port)
        i = np.asarray(c.intrinsics, np.float64)  # hl2ss: transposed 4x4 (row vectors)
        k = np.array([[i[0, 0], 0.0, i[2, 0]], [0.0, i[1, 1], i[2, 1]], [0.0, 0.0, 1.0]])
        alias = float(np.asarray(getattr(c, "alias", 0.0)).reshape(-1)[0])
        return proto.Calibration(np.asarray(c.uv2xy, np.float32), np.asarray(c.extrinsics, np.float64),
                                 float(np.asarray(c.scale).reshape(-1)[0]), alias, np.asarray(c.undistort_map, np.float32), k)

    def frames(self, stop: threading.Event):
        name = "longthrow" if self.stream == "long_throw" else "ahat"
        self.client = getattr(self.lnm, f"rx_rm_depth_{name}")(self.host, self.port, mode=self.hl2ss.StreamMode.MODE_1)
        self.client.open()
        try:
            while not stop.is_set():
                data = self.client.get_next_packet()
                yield data.timestamp, np.asarray(data.payload.depth).reshape(proto.SIZES[self.stream][::-1]), data.pose
        finally:
            self.close()

    def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            client.close()


class Hl2ssBridgeNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("hl2ss_bridge", **kwargs)
        self.params = p = declare_parameters(self, parameters.HL2SS_BRIDGE)
        if not p["host"]:
            raise ConfigurationError("hl2ss_bridge: parameter 'host' (the HoloLens 2's address) is empty")
        if p["hl2ss_client"] == "hl2ss":
            try:
                import hl2ss  # noqa: F401
                import hl2ss_lnm  # noqa: F401
            except ImportError as error:
                raise ConfigurationError(f"hl2ss_bridge: {HL2SS_HINT} ({error})") from error
        port = p["port"] or proto.PORTS[p["stream"]]
        self.client = (Hl2ssClient(p["host"], port, p["stream"]) if p["hl2ss_client"] == "hl2ss"
                       else BuiltinClient(p["host"], port, p["stream"], p["timeout_s"]))
        self.depth_pub = self.create_publisher(Image, "depth/image", qos.SENSOR)
        self.info_pub = self.create_publisher(CameraInfo, "depth/camera_info", qos.SENSOR)
        self.table_pub = self.create_publisher(Image, "depth/ray_table", qos.LATCHED)
        self.tf_pub = self.create_publisher(TFMessage, "/tf", qos.TF)
        self.static_pub = self.create_publisher(TFMessage, "/tf_static", qos.SIM_TF_STATIC)
        self.diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", qos.DIAGNOSTICS)
        self.clock = DeviceClock(p["utc_offset_ticks"], host_now=lambda: self.get_clock().now().nanoseconds * 1e-9)
        self.converter: Hl2ssConverter | None = None
        self.state, self.last_error = "connecting", ""
        self.frames, self.reconnects, self.bad_frames = 0, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="hl2ss_bridge", daemon=True)
        self.thread.start()
        self.create_timer(1.0, self.publish_diagnostics)
        self.get_logger().info(f"hl2ss_bridge: {p['stream']} from {p['host']}:{port} ({p['hl2ss_client']} client), output {p['output']}")

    def run(self) -> None:
        p, delay = self.params, 0.5
        while not self.stop.is_set():
            try:
                if self.converter is None:
                    self.converter = Hl2ssConverter(self.client.calibration(), p["output"], self.clock, p["min_range_m"], p["max_range_m"])
                    self.publish_static()
                self.state = "streaming"
                for timestamp, depth, pose in self.client.frames(self.stop):
                    self.publish_frame(timestamp, depth, pose)
                    delay = 0.5
            except (OSError, ConnectionError, ValueError) as error:
                if self.stop.is_set():
                    break
                self.state, self.last_error = "disconnected", str(error)
                self.reconnects += 1
                self.get_logger().warning(f"hl2ss connection: {error}; retrying in {delay:.1f} s", throttle_duration_sec=5.0)
                self.stop.wait(delay)
                delay = min(delay * 2, p["reconnect_max_s"])

    def header(self, seconds: float, frame: str) -> Header:
        sec, nanosec = split_seconds(max(seconds, 0.0))
        return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame)

    def transform(self, parent: str, child: str, matrix: np.ndarray, seconds: float) -> TransformStamped:
        t = TransformStamped(header=self.header(seconds, parent), child_frame_id=child)
        t.transform = matrix_to_transform(matrix)
        return t

    def publish_static(self) -> None:
        p, now = self.params, self.get_clock().now().nanoseconds * 1e-9
        self.static_pub.publish(TFMessage(transforms=[
            self.transform(p["world_frame"], p["hl2_world_frame"], MAP_FROM_HL2_WORLD, now),
            self.transform(p["rig_frame"], p["depth_frame"], self.converter.rig_from_camera, now),
        ]))
        if p["output"] == "radial":
            self.table_pub.publish(ray_table_to_image(self.converter.camera.xy, self.header(now, p["depth_frame"])))

    def publish_frame(self, timestamp: int, depth: np.ndarray, pose) -> None:
        p = self.params
        try:
            frame = self.converter.convert(timestamp, depth, pose)
        except ValueError as error:
            self.bad_frames += 1
            self.last_error = str(error)
            return
        if frame.world_from_rig is not None:
            self.tf_pub.publish(TFMessage(transforms=[self.transform(p["hl2_world_frame"], p["rig_frame"], frame.world_from_rig, frame.stamp_s)]))
        header = self.header(frame.stamp_s, p["depth_frame"])
        self.info_pub.publish(camera_info_from_intrinsics(self.converter.intrinsics, header))
        self.depth_pub.publish(array_to_image(frame.image, frame.encoding, header))
        self.frames += 1

    def publish_diagnostics(self) -> None:
        c = self.converter
        values = {"state": self.state, "frames": self.frames, "reconnects": self.reconnects, "bad_frames": self.bad_frames,
                  "wrapped_pixels": c.wrapped_pixels if c else 0, "lost_poses": c.lost_poses if c else 0, "last_error": self.last_error}
        status = DiagnosticStatus(name=f"{self.get_name()}: hl2ss", hardware_id=self.params["host"],
                                  level=DiagnosticStatus.OK if self.state == "streaming" else DiagnosticStatus.WARN,
                                  message=f"{self.state}, {self.frames} frames")
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        self.diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))

    def close(self) -> None:
        self.stop.set()
        self.client.close()
        self.thread.join(timeout=2.0)


def main(args: list[str] | None = None) -> int:
    return run_node(Hl2ssBridgeNode, args)
