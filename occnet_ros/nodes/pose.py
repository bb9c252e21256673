"""Camera pose sources: TF (tf2_ros when installed, else a /tf listener) or a PoseStamped topic.

All give a non-blocking ``lookup(target, source, stamp) -> 4x4 | None``; callers retry a
frame until their timeout, so no callback ever blocks the executor.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from rclpy.time import Time

from occnet_ros.nodes import qos
from occnet_ros.nodes.conversions import pose_to_matrix, transform_to_matrix
from occnet_ros.observe.sync import StampedBuffer
from occnet_ros.observe.tf_buffer import TransformBuffer, TransformUnavailable


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class TfPoses:
    """TF lookups through tf2_ros when available, else through /tf and /tf_static subscriptions.

    The tf2_ros Buffer is made with the node, so a jump back of the node's clock (sim time, a
    bag replayed with --loop) clears it; ``reset()`` clears it for a stamp jump seen in the data.
    The fallback's subscriptions join ``callback_group`` (the caller's lookups' group): its
    buffer is not thread-safe.
    """

    def __init__(self, node: Node, callback_group: CallbackGroup | None = None) -> None:
        try:
            import tf2_ros
        except ImportError:
            tf2_ros = None
        self.backend = "tf2_ros" if tf2_ros is not None else "tf_listener"
        if tf2_ros is not None:
            self.buffer = tf2_ros.Buffer(node=node)
            self.listener = tf2_ros.TransformListener(self.buffer, node)
            return
        from tf2_msgs.msg import TFMessage  # built by `make build` when no ROS is sourced

        self.fallback = TransformBuffer()
        node.create_subscription(TFMessage, "/tf", lambda m: self._on_tf(m, False), qos.TF, callback_group=callback_group)
        node.create_subscription(TFMessage, "/tf_static", lambda m: self._on_tf(m, True), qos.TF_STATIC_LISTENER,
                                 callback_group=callback_group)

    def reset(self) -> None:
        """Forget the dynamic transforms (static ones stay: /tf_static is latched and sent once)."""
        if self.backend == "tf2_ros":
            self.buffer.clear()  # tf2 keeps static transforms across clear()
        else:
            self.fallback.clear_dynamic()

    def _on_tf(self, msg, static: bool) -> None:
        for t in msg.transforms:
            self.fallback.set_transform(
                t.header.frame_id.lstrip("/"), t.child_frame_id.lstrip("/"), stamp_seconds(t.header.stamp),
                transform_to_matrix(t.transform), static,
            )

    def lookup(self, target: str, source: str, stamp) -> np.ndarray | None:
        if self.backend == "tf2_ros":
            try:
                t = self.buffer.lookup_transform(target, source, Time.from_msg(stamp))
            except Exception:  # tf2 raises LookupException, ExtrapolationException, ...
                return None
            return transform_to_matrix(t.transform)
        try:
            return self.fallback.lookup(target.lstrip("/"), source.lstrip("/"), stamp_seconds(stamp))
        except TransformUnavailable:
            return None


class TopicPoses:
    """Camera poses from a PoseStamped topic (pose of the depth optical frame in the world)."""

    backend = "topic"

    def __init__(self, node: Node, world_frame: str, slop: float, topic: str = "camera_pose",
                 callback_group: CallbackGroup | None = None) -> None:
        self.world_frame = world_frame
        self.slop = slop
        self.buffer = StampedBuffer(200)
        self.wrong_frame = 0
        node.create_subscription(PoseStamped, topic, self._on_pose, qos.CAMERA_POSE, callback_group=callback_group)

    def reset(self) -> None:
        self.buffer.items.clear()

    def _on_pose(self, msg: PoseStamped) -> None:
        if msg.header.frame_id.lstrip("/") != self.world_frame.lstrip("/"):
            self.wrong_frame += 1
            return
        self.buffer.add(stamp_seconds(msg.header.stamp), pose_to_matrix(msg.pose))

    def lookup(self, target: str, source: str, stamp) -> np.ndarray | None:
        if target.lstrip("/") != self.world_frame.lstrip("/"):
            return None
        # the frame's own pose when it has come; a neighbour's only once the poses passed the frame
        return self.buffer.settled_nearest(stamp_seconds(stamp), self.slop)
