"""hl2ss_bridge against a fake HoloLens 2 on 127.0.0.1 speaking hl2ss's stream format (bridge/hl2ss_protocol.py):
calibration download, depth + pose stream, a dropped connection retried, device time as ROS time, y-up -> z-up."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from ros_helpers import ros_context, spin_until, start_node, stop_node

from occnet_ros.bridge import hl2ss_protocol as proto
from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.geometry.hl2ss_frames import FILETIME_TO_UNIX_S, MAP_FROM_HL2_WORLD, hl2ss_extrinsics_from, hl2ss_pose_from
from occnet_ros.geometry.ray_table import distorted_table, fit_pinhole, invert_table

RIG_FROM_CAMERA = np.array([[1.0, 0, 0, 0.02], [0, -1.0, 0, 0.0], [0, 0, -1.0, 0.0], [0, 0, 0, 1]])
WORLD_FROM_RIG = np.array([[0.0, 0, 1, 0.5], [0, 1.0, 0, 1.6], [-1.0, 0, 0, -0.3], [0, 0, 0, 1]])  # y-up world, head 1.6 m up
UTC_OFFSET = 133_000_000_000_000_000  # 100 ns ticks since 1601 (2022)


def calibration() -> proto.Calibration:
    xy = distorted_table(HL2_LONG_THROW, 0.08, 0.01)
    k = fit_pinhole(xy)
    return proto.Calibration(xy, hl2ss_extrinsics_from(RIG_FROM_CAMERA).astype(np.float64), 1000.0, 0.0,
                             invert_table(xy, k).astype(np.float32), k.k)


class FakeDevice:
    """Serves calibration (mode 2) and a pose stream (mode 1); the first stream connection drops after 3 frames."""

    def __init__(self, frames: int = 40) -> None:
        self.calibration = proto.pack_calibration(calibration(), "long_throw")
        self.frames, self.connections, self.stop = frames, [], threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        streams = 0
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2.0)
                mode = conn.recv(1)[0]
                self.connections.append(mode)
                if mode == proto.MODE_CALIBRATION:
                    conn.sendall(self.calibration)
                    continue
                streams += 1
                depth = np.full((288, 320), 1500, np.uint16)
                for index in range(3 if streams == 1 else self.frames):
                    if self.stop.is_set():
                        break
                    packet = proto.Packet(10_000_000 + index * 2_000_000, proto.pack_depth_payload(depth), hl2ss_pose_from(WORLD_FROM_RIG))
                    try:
                        conn.sendall(proto.pack_packet(packet))
                    except OSError:
                        break
                    time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.close()


@pytest.fixture
def device():
    fake = FakeDevice()
    yield fake
    fake.close()


def test_packet_reader_handles_split_and_joined_packets():
    packets = [proto.Packet(i, bytes([i]) * (5 + i), np.eye(4, dtype=np.float32) * i) for i in range(3)]
    data = b"".join(proto.pack_packet(p) for p in packets)
    reader = proto.PacketReader(with_pose=True)
    got = [q for k in range(0, len(data), 7) for q in reader.feed(data[k : k + 7])]
    assert [(q.timestamp, q.payload) for q in got] == [(p.timestamp, p.payload) for p in packets]
    assert np.array_equal(got[2].pose, packets[2].pose)
    with pytest.raises(ValueError, match="compressed"):
        proto.unpack_depth_payload(b"\x89PNG" + bytes(100), "long_throw")


def test_bridge_streams_depth_tf_and_device_time_and_reconnects(device):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    from occnet_ros.nodes import qos
    from occnet_ros.nodes.conversions import image_to_array, transform_to_matrix
    from occnet_ros.nodes.hl2ss_bridge import Hl2ssBridgeNode

    with ros_context() as context:
        params = [Parameter("host", value="127.0.0.1"), Parameter("port", value=device.port), Parameter("hl2ss_client", value="builtin"),
                  Parameter("utc_offset_ticks", value=UTC_OFFSET), Parameter("timeout_s", value=2.0)]
        bridge = Hl2ssBridgeNode(context=context, parameter_overrides=params)
        probe = rclpy.create_node("probe", context=context)
        got: dict[str, list] = {"depth": [], "info": [], "tf": [], "static": [], "diag": []}
        probe.create_subscription(Image, "depth/image", got["depth"].append, qos.SENSOR)
        probe.create_subscription(CameraInfo, "depth/camera_info", got["info"].append, qos.SENSOR)
        probe.create_subscription(TFMessage, "/tf", got["tf"].append, 100)
        probe.create_subscription(TFMessage, "/tf_static", got["static"].append, qos.TF_STATIC_LISTENER)
        probe.create_subscription(DiagnosticArray, "/diagnostics", got["diag"].append, 10)
        try:
            assert spin_until([bridge, probe], lambda: len(got["depth"]) >= 6 and bridge.reconnects >= 1 and got["diag"],
                              timeout=60, context=context), (bridge.state, bridge.last_error, len(got["depth"]))
        finally:
            bridge.close()
            bridge.destroy_node()
            probe.destroy_node()
    assert device.connections[0] == proto.MODE_CALIBRATION and device.connections.count(proto.MODE_POSE) >= 2
    depth = got["depth"][-1]
    assert depth.encoding == "32FC1" and depth.header.frame_id == "hl2_depth_optical"
    z = image_to_array(depth)
    info = got["info"][-1]
    assert (info.width, info.height) == (depth.width, depth.height) and info.k[0] > 0
    centre = z[info.height // 2, info.width // 2]
    assert abs(centre - 1.5) < 0.01  # radial 1.5 m on the axis = z 1.5 m
    stamp = got["tf"][0].transforms[0].header.stamp
    seconds = stamp.sec + stamp.nanosec * 1e-9
    # the device stamps frame k at 10,000,000 + 2,000,000 k ticks; the probe may have missed the first frames
    first = (10_000_000 + UTC_OFFSET) / 1e7 - FILETIME_TO_UNIX_S
    frame = round((seconds - first) / 0.2)
    assert frame >= 0 and abs(seconds - (first + 0.2 * frame)) < 1e-3, (seconds, first)
    dynamic = got["tf"][0].transforms[0]
    assert (dynamic.header.frame_id, dynamic.child_frame_id) == ("hl2_world", "hl2_rig")
    assert np.allclose(transform_to_matrix(dynamic.transform), WORLD_FROM_RIG, atol=1e-5)
    static = {(t.header.frame_id, t.child_frame_id): transform_to_matrix(t.transform) for m in got["static"] for t in m.transforms}
    map_from_world = static[("map", "hl2_world")]
    assert np.allclose(map_from_world, MAP_FROM_HL2_WORLD)
    assert np.allclose((map_from_world @ WORLD_FROM_RIG)[2, 3], 1.6)  # the head is 1.6 m up in map (z-up)
    assert np.allclose(static[("hl2_rig", "hl2_depth_optical")], RIG_FROM_CAMERA, atol=1e-5)
    keys = {kv.key: kv.value for kv in got["diag"][-1].status[0].values}
    assert int(keys["reconnects"]) >= 1


def test_without_the_hl2ss_client_the_node_says_how_and_exits_2():
    process = start_node("hl2ss_bridge", "-p", "host:=127.0.0.1")
    try:
        code = process.wait(timeout=60)
    except Exception:
        code, _, _ = stop_node(process)
    err = process.stderr.read()
    assert code == 2, err[-2000:]
    assert "git clone https://github.com/jdibenes/hl2ss" in err and "PYTHONPATH" in err
