"""DepthView <-> ObjectView: round trip, hand-built messages, and bad messages -> ViewError."""

from __future__ import annotations

import numpy as np
import pytest
from geometry_msgs.msg import Point, Pose, Quaternion
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from occnet_ros.geometry.raycast import look_at
from occnet_ros.geometry.views import DepthView, ViewError
from occnet_ros.msg import ObjectObservation, ObjectView
from occnet_ros.nodes.conversions import view_from_msg, view_to_msg

POSE = look_at(np.array([1.2, -0.5, 1.3]), np.array([0.0, 0.1, 0.3]))
K = np.array([[100.0, 0.0, 31.5], [0.0, 101.0, 20.25], [0.0, 0.0, 1.0]])


def sample_view(height=40, width=64) -> DepthView:
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 3.0, (height, width)).astype(np.float32)
    depth[::7, ::5] = 0.0
    mask = np.zeros((height, width), bool)
    mask[10:30, 20:50] = True
    return DepthView(depth, mask, K, POSE)


def test_round_trip_keeps_every_value():
    view = sample_view()
    msg = view_to_msg(view, Header(frame_id="map"))
    assert (msg.depth.encoding, msg.mask.encoding) == ("32FC1", "mono8")
    assert msg.depth.step == 64 * 4 and len(msg.mask.data) == 40 * 64
    back = view_from_msg(msg, "map")
    np.testing.assert_array_equal(back.depth, view.depth)
    np.testing.assert_array_equal(back.mask, view.mask)
    np.testing.assert_allclose(back.k, K)
    np.testing.assert_allclose(back.world_from_camera, POSE, atol=1e-12)
    np.testing.assert_allclose(back.points(), view.points(), atol=1e-9)


def hand_built(depth: np.ndarray, mask: np.ndarray, big_endian=False, pad=0) -> ObjectView:
    """An ObjectView written byte by byte, as another node would (row padding, endianness)."""
    h, w = depth.shape
    order = ">" if big_endian else "<"
    rows = [depth[r].astype(order + "f4").tobytes() + b"\0" * pad for r in range(h)]
    msg = ObjectView(header=Header(frame_id="map"))
    msg.depth = Image(height=h, width=w, encoding="32FC1", is_bigendian=big_endian, step=4 * w + pad, data=b"".join(rows))
    msg.mask = Image(height=h, width=w, encoding="mono8", step=w + 3, data=b"".join(mask[r].astype(np.uint8).tobytes() + b"\0" * 3
                                                                                for r in range(h)))
    msg.k = [200.0, 0.0, 2.0, 0.0, 200.0, 1.5, 0.0, 0.0, 1.0]
    msg.world_from_camera = Pose(position=Point(x=1.0, y=2.0, z=3.0), orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0))
    return msg


@pytest.mark.parametrize("big_endian,pad", [(False, 0), (True, 0), (False, 8)])
def test_hand_built_messages_convert(big_endian, pad):
    depth = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.25
    mask = np.array([[0, 1, 1, 0], [0, 7, 255, 0], [0, 0, 0, 0]])
    view = view_from_msg(hand_built(depth, mask, big_endian, pad))
    np.testing.assert_array_equal(view.depth, depth)
    np.testing.assert_array_equal(view.mask, mask != 0)
    np.testing.assert_allclose(view.k, [[200, 0, 2], [0, 200, 1.5], [0, 0, 1]])
    np.testing.assert_allclose(view.world_from_camera[:3, 3], [1, 2, 3])
    # pixel (u=1, v=0), depth 0.25: x = (1 - 2) / 200 * 0.25 in the camera, + the pose's offset
    np.testing.assert_allclose(view.points()[0], [1.0 - 0.25 / 200, 2.0 - 1.5 / 200 * 0.25, 3.25])


def broken(change) -> ObjectView:
    msg = view_to_msg(sample_view(), Header(frame_id="map"))
    change(msg)
    return msg


def set_mask(msg, mask):
    msg.mask = mask


BAD = {
    "depth encoding": lambda m: setattr(m.depth, "encoding", "16UC1"),
    "mask encoding": lambda m: setattr(m.mask, "encoding", "rgb8"),
    "does not match": lambda m: set_mask(m, view_to_msg(sample_view(20, 64), Header()).mask),
    "depth: image data": lambda m: setattr(m.depth, "data", bytes(m.depth.data)[:100]),
    "mask: image data": lambda m: setattr(m.mask, "step", 10),
    "NaN": lambda m: setattr(m.world_from_camera.position, "x", float("nan")),
    "unit quaternion": lambda m: setattr(m.world_from_camera.orientation, "w", 3.0),
    "singular": lambda m: setattr(m, "k", [0.0] * 9),
    "negative": lambda m: setattr(m, "depth", view_to_msg(DepthView(-np.ones((40, 64), np.float32), np.ones((40, 64), bool), K, POSE),
                                                          Header()).depth),
    "world frame": lambda m: setattr(m.header, "frame_id", "odom"),
}


@pytest.mark.parametrize("reason", sorted(BAD))
def test_bad_messages_raise_a_view_error_naming_the_field(reason):
    with pytest.raises(ViewError, match=reason):
        view_from_msg(broken(BAD[reason]), "map")


def test_observation_carries_views_beside_the_cloud():
    from rclpy.serialization import deserialize_message, serialize_message

    msg = ObjectObservation(id=3, class_name="mug", views=[view_to_msg(sample_view(), Header(frame_id="map"))] * 2)
    back = deserialize_message(serialize_message(msg), ObjectObservation)
    assert len(back.views) == 2
    np.testing.assert_array_equal(view_from_msg(back.views[1]).depth, sample_view().depth)
