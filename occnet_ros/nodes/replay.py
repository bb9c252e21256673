"""Replay node: publishes a rosbag2 recording's sensor topics, read with rosbags (no rosbag2 install).

Reads the bag with ``occnet_ros.bags.read_bag``, converts each message to its rclpy class
(``to_ros``) and publishes it under the topic it was recorded on: ``depth/image``,
``depth/camera_info``, ``segmentation`` and ``camera_pose`` as relative names (remap them like
any node's: ``--ros-args -r depth/image:=/hl2/depth``), ``/tf`` and ``/tf_static`` absolute.
A bag with other topic names is read through ``topic_map`` ('bag_topic:=known_topic' pairs).
See docs/record_replay.md.

Timing follows the recorded log times scaled by ``rate`` (1.0 = as recorded, 0 = as fast as
possible). ``/tf_static`` is latched (transient local) and, like tf2's static broadcaster,
carries every static transform seen so far. With ``loop``, the bag starts over and every
stamp is shifted by the bag's length so downstream nodes see time move forward.
"""

from __future__ import annotations

import array
import importlib
import threading
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node

from occnet_ros.bags.reader import bag_info, normalise_topic, parse_topic_map, read_bag
from occnet_ros.bags.typestore import DEPTH, TF, TF_STATIC, TOPICS, BagError, stamp_to_ns
from occnet_ros.nodes import parameters, qos
from occnet_ros.nodes.common import ConfigurationError, declare_parameters, run_node

# ------------------------------------------------------------------------ rosbags -> rclpy messages

@cache
def ros_class(msgtype: str) -> type:
    """The rclpy message class of a type name: 'sensor_msgs/msg/Image' or 'sensor_msgs/Image'."""
    parts = msgtype.split("/")
    package, kind, name = (parts[0], "msg", parts[1]) if len(parts) == 2 else parts
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as error:
        raise TypeError(f"no rclpy message class for {msgtype} (is its package built and sourced?)") from error


def _field(msg: Any, name: str) -> Any:
    try:
        return getattr(msg, name)
    except AttributeError:  # rosbags appends '_' to names that are Python keywords
        return getattr(msg, name + "_")


def _convert(value: Any, current: Any, offset_ns: int) -> Any:
    """A rosbags field value in the form the rclpy field (whose default is ``current``) takes."""
    if hasattr(value, "__msgtype__"):
        return to_ros(value, offset_ns)
    if isinstance(value, np.ndarray):
        if isinstance(current, np.ndarray):  # fixed-size numeric array, e.g. float64[9]
            return np.asarray(value, dtype=current.dtype).reshape(current.shape)
        if isinstance(current, array.array):  # numeric sequence, e.g. uint8[] data: no per-element checks
            out = array.array(current.typecode)
            out.frombytes(np.ascontiguousarray(value, dtype=np.dtype(current.typecode)).tobytes())
            return out
        return [_convert(v, None, offset_ns) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_convert(v, None, offset_ns) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(current, bytes) and isinstance(value, int):  # 'byte' fields
        return bytes([value])
    return value


def to_ros(msg: Any, offset_ns: int = 0) -> Any:
    """The rclpy message equal to a rosbags message (matched by field names, recursively).

    Nested messages, arrays of messages, numpy arrays (fixed-size -> numpy, sequences ->
    array.array, e.g. Image.data) and strings are handled. ``offset_ns`` is added to every
    builtin_interfaces/Time inside (header stamps, TF stamps)."""
    cls = ros_class(msg.__msgtype__)
    out = cls()
    if offset_ns and msg.__msgtype__ == "builtin_interfaces/msg/Time":
        out.sec, out.nanosec = divmod(stamp_to_ns(msg) + offset_ns, 10**9)
        return out
    for name in out.get_fields_and_field_types():
        setattr(out, name, _convert(_field(msg, name), getattr(out, name), offset_ns))
    return out


def publish_name(topic: str) -> str:
    """TF stays absolute (tf2 listens on /tf, /tf_static); sensor topics become relative, so the
    node's namespace and --ros-args -r apply."""
    return topic if topic in (TF, TF_STATIC) else topic.lstrip("/")


# ------------------------------------------------------------------------------------------- node

class ReplayNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("replay", **kwargs)
        self.params = declare_parameters(self, parameters.REPLAY)
        p = self.params
        self.published: Counter = Counter()
        self.loops = 0
        self.finished = False
        self.error: str | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.static: dict[str, Any] = {}
        self.publishers_: dict[str, Any] = {}
        if not p["bag"]:
            self.get_logger().warning("no bag to replay (parameter 'bag' is empty); idle")
            self.finished = True
            return
        try:
            self.topic_map = parse_topic_map(p["topic_map"])
            self.bag = Path(p["bag"]).expanduser()
            read_bag(self.bag, self.topic_map).close()  # checks the bag and its topics now
            info = bag_info(self.bag)
        except (BagError, ValueError) as error:
            raise ConfigurationError(f"replay: {error}") from error
        known = {normalise_topic(k): normalise_topic(v) for k, v in self.topic_map.items()}
        mapped = {known.get(normalise_topic(t), normalise_topic(t)) for t in info.topics}
        for topic in TOPICS:
            if topic in mapped:
                profile = qos.REPLAY_TF_STATIC if topic == TF_STATIC else qos.REPLAY_TF if topic == TF else qos.REPLAY_STREAM
                self.publishers_[topic] = self.create_publisher(ros_class(TOPICS[topic]), publish_name(topic), profile)
        self.clock_pub = None
        if p["publish_clock"]:
            from rosgraph_msgs.msg import Clock

            self.clock_pub = self.create_publisher(Clock, "/clock", qos.REPLAY_CLOCK)
        names = ", ".join(self.publishers_[t].topic_name for t in self.publishers_) + (", /clock" if self.clock_pub else "")
        self.get_logger().info(f"replaying {self.bag} ({(info.end_ns - info.start_ns) / 1e9:.1f} s) at rate "
                               f"{p['rate'] or 'max'}{', looping' if p['loop'] else ''}: {names}")
        self.thread = threading.Thread(target=self._run, name="occnet-replay", daemon=True)
        self.thread.start()

    def publish(self, topic: str, msg: Any) -> None:
        if topic == TF_STATIC:  # accumulate, as tf2_ros.StaticTransformBroadcaster does
            for t in msg.transforms:
                self.static[t.child_frame_id] = t
            msg = ros_class(TOPICS[TF_STATIC])(transforms=list(self.static.values()))
        self.publishers_[topic].publish(msg)
        self.published[topic] += 1

    def publish_clock(self, ns: int) -> None:
        from rosgraph_msgs.msg import Clock

        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = divmod(ns, 10**9)
        self.clock_pub.publish(clock)

    def _run(self) -> None:
        try:
            if self.stop.wait(self.params["start_delay_s"]):
                return
            offset, start_wall = 0, time.monotonic()
            while not self.stop.is_set():
                span = self._play_once(offset, start_wall)
                self.loops += 1
                if span is None or not self.params["loop"]:
                    break
                offset += span  # the next round follows one frame period after this one's last frame
                start_wall += span / 1e9 / self.params["rate"] if self.params["rate"] > 0 else 0.0
            if not self.stop.is_set():
                counts = ", ".join(f"{t} x{n}" for t, n in self.published.items())
                self.get_logger().info(f"replay finished after {self.loops} round(s): {counts}")
        except (BagError, TypeError, ValueError) as error:
            self.error = str(error)
            self.get_logger().error(f"replay stopped: {error}")
        finally:
            self.finished = True

    def _play_once(self, offset_ns: int, start_wall: float) -> int | None:
        """Publish the bag once, its first message at start_wall (monotonic clock); returns the
        time shift of the next round: the depth stamps' span plus one frame period (None if the
        bag turned out empty or the node is stopping)."""
        rate = self.params["rate"]
        first = last = None
        depth_stamps: list[int] = []
        messages = read_bag(self.bag, self.topic_map)
        try:
            for topic, ns, msg in messages:
                if self.stop.is_set():
                    return None
                first = ns if first is None else first
                last = ns
                if rate > 0:
                    delay = start_wall + (ns - first) / 1e9 / rate - time.monotonic()
                    if delay > 0 and self.stop.wait(delay):
                        return None
                if self.clock_pub is not None:
                    self.publish_clock(ns + offset_ns)
                if topic == TF_STATIC and offset_ns:
                    continue  # latched since the first round
                if topic == DEPTH:
                    depth_stamps.append(stamp_to_ns(msg.header.stamp))
                self.publish(topic, to_ros(msg, offset_ns))
        finally:
            messages.close()
        if first is None:
            return None
        if len(depth_stamps) > 1:
            return depth_stamps[-1] - depth_stamps[0] + (depth_stamps[-1] - depth_stamps[0]) // (len(depth_stamps) - 1)
        return last - first + 10**9

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None and self.thread.is_alive():
            self.thread.join(timeout=5.0)


def main(args: list[str] | None = None) -> int:
    return run_node(ReplayNode, args)
