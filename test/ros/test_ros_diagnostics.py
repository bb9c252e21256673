"""/diagnostics levels from the recent window, on the real nodes (the window shortened to 2 s):
the observation node is ERROR while frames arrive and none can be placed, OK again once they are;
the reconstruction node is OK, then ERROR while every reconstruction fails, OK again after. Keys
that would only say zero are left out."""

from __future__ import annotations

import time

import numpy as np
from ros_helpers import REPO, StubPipeline, spin_until, synthetic_frame, transform
from std_msgs.msg import Header

from occnet_ros.msg import ObjectObservation
from occnet_ros.nodes.conversions import xyz_cloud

WINDOW_S = 2.0


def statuses(node, name: str) -> list:
    """Every status named ``...: name`` on /diagnostics, as (level, message, {key: value})."""
    from diagnostic_msgs.msg import DiagnosticArray

    from occnet_ros.nodes import qos

    seen: list = []
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: seen.extend(
        (s.level[0] if isinstance(s.level, bytes) else s.level, s.message, {v.key: v.value for v in s.values})
        for s in m.status if s.name.endswith(f": {name}")), qos.DIAGNOSTICS)
    return seen


def keep_sending(node, context, send, until, timeout: float, period: float = 0.2) -> bool:
    """Call send() every period while spinning node, until until() holds or timeout passes."""
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        send()
        spin_until([node], lambda: False, timeout=period, context=context)
    return until()


def test_observation_level_follows_the_recent_frames(monkeypatch):
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    from occnet_ros.msg import Segmentation
    from occnet_ros.nodes import qos
    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner
    from occnet_ros.observe.rates import ERROR, OK

    monkeypatch.setattr("occnet_ros.nodes.observation_diagnostics.WINDOW_S", WINDOW_S)
    overrides = {"observation": {"tf_timeout_s": 0.3, "outlier_neighbors": 0}}
    runner = NodeRunner((OBSERVATION,), REPO / "config" / "occnet.yaml", overrides, threads=2).start()
    context, observation = runner.context, runner.nodes["observation"]
    node = rclpy.create_node("diagnostics_probe", context=context)
    seen = statuses(node, "observation")
    stamp = [100.0]
    try:
        pubs = [node.create_publisher(kind, topic, qos_profile_sensor_data)
                for kind, topic in ((Image, "depth/image"), (CameraInfo, "depth/camera_info"), (Segmentation, "segmentation"))]
        tf_pub = node.create_publisher(TFMessage, "/tf", qos.TF)
        assert spin_until([node], lambda: all(p.get_subscription_count() for p in pubs) and seen, timeout=60, context=context)

        def send(with_tf: bool) -> None:
            stamp[0] += 0.2
            if with_tf:
                tf_pub.publish(TFMessage(transforms=[transform("map", "hl2_depth_optical", stamp[0], 1.0)]))
            for pub, msg in zip(pubs, synthetic_frame(stamp[0])):
                pub.publish(msg)

        first = seen[0]
        # no transform: every frame is dropped (pose_unavailable) and none processed -> ERROR. The
        # first frames may already make it ERROR through camera_info_missing / segmentation_missing
        # (depth came before its partners); wait until the pose drops are in the window too
        assert keep_sending(node, context, lambda: send(False),
                            lambda: seen[-1][0] == ERROR and "skipped_pose_unavailable" in seen[-1][2], timeout=30), seen[-3:]
        error = seen[-1]
        # transforms again: frames processed; once the drops leave the window, OK
        assert keep_sending(node, context, lambda: send(True), lambda: observation.frames_processed > 0 and seen[-1][0] == OK,
                            timeout=30), seen[-3:]
        ok = seen[-1]
    finally:
        node.destroy_node()
        runner.shutdown()
    assert first[0] == OK and set(first[2]) == {"frames_received", "frames_processed", "objects"}, first  # zero keys left out
    assert "none processed" in error[1] and int(error[2]["skipped_pose_unavailable"]) > 0, error
    assert int(error[2]["frames_dropped_last_2s"]) > 0 and "drop_rate" in error[2]
    assert "frames_dropped_last_2s" not in ok[2] and int(ok[2]["frames_dropped"]) > 0, ok  # lifetime counts stay


def test_reconstruction_level_follows_the_recent_reconstructions(monkeypatch):
    import rclpy

    from occnet_ros.nodes import qos
    from occnet_ros.nodes.reconstruction import ReconstructionNode
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner
    from occnet_ros.observe.rates import ERROR, OK

    pipeline = StubPipeline()
    monkeypatch.setattr(ReconstructionNode, "_load_pipeline", lambda self: pipeline)
    monkeypatch.setattr("occnet_ros.nodes.reconstruction.WINDOW_S", WINDOW_S)
    runner = NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", {"reconstruction": {"use_evidence": False}}).start()
    context = runner.context
    node = rclpy.create_node("diagnostics_probe", context=context)
    seen = statuses(node, "reconstruction")
    try:
        publisher = node.create_publisher(ObjectObservation, "objects/observations", qos.OBSERVATIONS)
        assert spin_until([node], lambda: publisher.get_subscription_count() > 0, timeout=10, context=context)
        header = Header(frame_id="map")
        msg = ObjectObservation(header=header, id=1, class_name="box", action=ObjectObservation.ACTION_UPDATE, request_reconstruction=True)
        msg.cloud = xyz_cloud(np.random.default_rng(0).normal(scale=0.05, size=(200, 3)), header)
        send = lambda: publisher.publish(msg)  # noqa: E731
        assert keep_sending(node, context, send, lambda: bool(seen) and seen[-1][2].get("reconstructions", "0") != "0", timeout=20)
        good = seen[-1]
        pipeline.fail = True
        assert keep_sending(node, context, send, lambda: seen[-1][0] == ERROR, timeout=30), seen[-3:]
        failing = seen[-1]
        pipeline.fail = False
        assert keep_sending(node, context, send, lambda: seen[-1][0] == OK, timeout=30), seen[-3:]
        recovered = seen[-1]
    finally:
        node.destroy_node()
        runner.shutdown()
    assert good[0] == OK and set(good[2]) <= {"objects", "reconstructions", "queued"}, good  # no zero loss keys
    assert "none succeeded" in failing[1] and int(failing[2]["failed"]) > 0, failing
    assert int(recovered[2]["failed"]) >= int(failing[2]["failed"]), recovered  # the lifetime count stays as a value
