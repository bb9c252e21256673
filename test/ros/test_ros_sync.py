"""message_filters' ApproximateTimeSynchronizer path for real, on a two-thread executor: the
input callbacks (synchroniser, on_frame, watch_stamp) never overlap each other (self.input_group),
and frames are processed on the node's own worker thread while inputs keep arriving (what both
touch is under pending_lock). Approximately stamped inputs are
matched, and a stamp jump backwards (a bag replayed with --loop) resets the synchroniser and the
TF buffer instead of dropping every later frame as stamp_backwards."""

from __future__ import annotations

import threading
import time

import pytest
from ros_helpers import MISSING, REPO, spin_until, synthetic_frame, transform

if MISSING:
    pytest.skip(MISSING, allow_module_level=True)

from occnet_ros.nodes.observation import ObservationNode  # noqa: E402
from occnet_ros.nodes.registry import NodeEntry  # noqa: E402


class TrackedObservation(ObservationNode):
    """Records whether two threads were ever inside the callbacks of one side at once: the input
    side (one mutually exclusive group) or the processing side (another)."""

    def __init__(self, **kwargs) -> None:
        self.guard = threading.Lock()
        self.inside: dict[str, dict[int, int]] = {"input": {}, "processing": {}}
        self.overlaps = 0
        self.calls = {"input": 0, "processing": 0}
        super().__init__(**kwargs)

    def _tracked(self, side, method, *args):
        me = threading.get_ident()
        with self.guard:
            if any(depth for thread, depth in self.inside[side].items() if thread != me):
                self.overlaps += 1
            self.inside[side][me] = self.inside[side].get(me, 0) + 1
            self.calls[side] += 1
        try:
            time.sleep(0.002)  # widen the window a race needs
            return method(*args)
        finally:
            with self.guard:
                self.inside[side][me] -= 1

    def on_frame(self, *args):
        return self._tracked("input", super().on_frame, *args)

    def watch_stamp(self, msg, index):
        return self._tracked("input", super().watch_stamp, msg, index)

    def process_pending(self):
        return self._tracked("processing", super().process_pending)

    def housekeeping(self):
        return self._tracked("processing", super().housekeeping)


TRACKED = NodeEntry("observation", "observation_node", __name__, "TrackedObservation")


def test_approximate_time_synchronizer_on_two_threads_and_a_loop_back_in_stamps():
    """The scenario below, tried up to three times: on a loaded machine best-effort partners are
    sometimes lost wholesale (seen in one full run of four: 11 of 12 camera infos missing); each
    try starts a fresh node, and every assertion must hold in one try."""
    for attempt in range(3):
        try:
            return synchronizer_scenario()
        except AssertionError:
            if attempt == 2:
                raise


def synchronizer_scenario() -> None:
    import message_filters
    import rclpy
    import tf2_ros
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from occnet_ros.msg import Segmentation
    from occnet_ros.nodes.runner import NodeRunner

    overrides = {"observation": {"tf_timeout_s": 2.0, "reconstruct_every_views": 1, "outlier_neighbors": 0, "sync_slop_s": 0.02}}
    runner = NodeRunner((TRACKED,), REPO / "config" / "occnet.yaml", overrides, threads=2).start()
    observation = runner.nodes["observation"]
    context = runner.context
    node = rclpy.create_node("sync_probe", context=context)
    try:
        assert observation.matcher is None and isinstance(observation.sync, message_filters.ApproximateTimeSynchronizer)
        broadcaster = tf2_ros.TransformBroadcaster(node)
        tf2_ros.StaticTransformBroadcaster(node).sendTransform(transform("hl2", "hl2_depth_optical", 0.0, 0.1))
        pubs = [node.create_publisher(kind, topic, qos_profile_sensor_data)
                for kind, topic in ((Image, "depth/image"), (CameraInfo, "depth/camera_info"), (Segmentation, "segmentation"))]
        assert spin_until([node], lambda: all(p.get_subscription_count() for p in pubs), timeout=60, context=context)

        def play(stamps: list[float], expected: int) -> None:
            for stamp in stamps:
                broadcaster.sendTransform(transform("map", "hl2", stamp, 1.0))
                depth, info, seg = synthetic_frame(stamp, jitter_s=0.007)  # within sync_slop_s, not equal
                for pub, msg in ((pubs[1], info), (pubs[2], seg), (pubs[0], depth)):
                    pub.publish(msg)
                spin_until([node], lambda: False, timeout=0.12, context=context)  # 8 Hz: depth-5 best-effort queues not overrun
            assert spin_until([node], lambda: observation.frames_processed >= expected, timeout=60, context=context), \
                (observation.frames_processed, observation.diagnostic_counts())

        first = [200.0 + 0.1 * i for i in range(12)]
        # best effort QoS may lose a message or two (each loses its frame), the last frame may still
        # wait for its partners, and newest-frame-first processing may skip a stale frame (all counted)
        play(first, expected=7)
        assert observation.stamp_resets == 0
        before = observation.frames_processed
        # a bag played with --loop: the stamps start over
        play([200.0 + 0.1 * i for i in range(6)], expected=before + 3)
    finally:
        node.destroy_node()
        runner.shutdown()
    counts = observation.diagnostic_counts()
    assert observation.stamp_resets == 1, counts
    assert counts.get("stamp_backwards", 0) == 0, counts
    # the reset clears the TF buffer: the transforms of the first looped frames may have come just
    # before it (TF and images travel on different threads); the later frames are all placed
    assert counts.get("pose_unavailable", 0) <= 3, counts
    # enough calls on both sides for the overlap detector to mean something (a loaded machine runs
    # fewer processing ticks), and never two callbacks of one side at once
    assert min(observation.calls.values()) > 20 and observation.overlaps == 0, (observation.calls, observation.overlaps)
