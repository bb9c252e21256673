"""The tf2_ros pose path for real: the observation node's tf2_ros Buffer + TransformListener fed
by a tf2_ros TransformBroadcaster. A transform that arrives late (within tf_timeout_s) still
places its frame; one that never arrives, a frame missing from the tree and a loop in the tree
are counted skips, never a crash."""

from __future__ import annotations

import pytest
from ros_helpers import MISSING, REPO, spin_until, synthetic_frame, transform

if MISSING:
    pytest.skip(MISSING, allow_module_level=True)



def test_tf2_ros_late_never_missing_and_looped_transforms():
    import rclpy
    import tf2_ros
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from occnet_ros.msg import Segmentation
    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner

    overrides = {"observation": {"tf_timeout_s": 1.5, "reconstruct_every_views": 1, "outlier_neighbors": 0}}
    runner = NodeRunner((OBSERVATION,), REPO / "config" / "occnet.yaml", overrides, threads=2).start()
    observation = runner.nodes["observation"]
    node = rclpy.create_node("tf_probe", context=runner.context)
    context = runner.context
    try:
        assert observation.poses.backend == "tf2_ros"
        assert observation.poses.buffer.clock is not None  # made with the node: clock jumps clear it
        broadcaster = tf2_ros.TransformBroadcaster(node)
        static = tf2_ros.StaticTransformBroadcaster(node)
        static.sendTransform(transform("hl2", "hl2_depth_optical", 0.0, 0.1))
        pubs = [node.create_publisher(kind, topic, qos_profile_sensor_data)
                for kind, topic in ((Image, "depth/image"), (CameraInfo, "depth/camera_info"), (Segmentation, "segmentation"))]
        assert spin_until([node], lambda: all(p.get_subscription_count() for p in pubs), timeout=60, context=context)

        def send(stamp: float, frame_id: str = "hl2_depth_optical") -> None:
            for pub, msg in zip(pubs, synthetic_frame(stamp, frame_id)):
                pub.publish(msg)

        def skipped() -> int:
            return observation.skipped["pose_unavailable"]

        # 1. the transform first: placed
        broadcaster.sendTransform(transform("map", "hl2", 100.0, 1.0))
        send(100.0)
        assert spin_until([node], lambda: observation.frames_processed == 1, timeout=30, context=context), observation.diagnostic_counts()
        # 2. the transform 0.3 s after the frame (within tf_timeout_s): still placed
        send(101.0)
        spin_until([node], lambda: len(observation.pending) == 1, timeout=10, context=context)
        spin_until([node], lambda: False, timeout=0.3, context=context)
        assert observation.frames_processed == 1, "frame placed before its transform came"
        broadcaster.sendTransform(transform("map", "hl2", 101.0, 1.0))
        assert spin_until([node], lambda: observation.frames_processed == 2, timeout=30, context=context), observation.diagnostic_counts()
        assert skipped() == 0
        # 3. a transform that never arrives: skipped after tf_timeout_s, counted
        send(102.0)
        assert spin_until([node], lambda: skipped() == 1, timeout=30, context=context), observation.diagnostic_counts()
        # 4. a frame that is not in the tree
        send(101.5, frame_id="no_such_optical")
        assert spin_until([node], lambda: skipped() == 2, timeout=30, context=context), observation.diagnostic_counts()
        # 5. a loop in the tree: a -> b -> a
        broadcaster.sendTransform([transform("a", "b", 101.5), transform("b", "a", 101.5)])
        spin_until([node], lambda: False, timeout=0.3, context=context)
        send(101.5, frame_id="a")
        assert spin_until([node], lambda: skipped() == 3, timeout=30, context=context), observation.diagnostic_counts()
        # and the node goes on placing frames
        broadcaster.sendTransform(transform("map", "hl2", 103.0, 1.0))
        send(103.0)
        assert spin_until([node], lambda: observation.frames_processed == 3, timeout=30, context=context), observation.diagnostic_counts()
    finally:
        node.destroy_node()
        runner.shutdown()
    assert observation.skipped["pose_unavailable"] == 3 and observation.store.objects
    assert observation.diagnostic_counts().get("bad_input", 0) == 0
