"""The fallbacks a machine without ROS tools runs (no message_filters, no tf2_ros: `make build`
without ../shared/ros2-jazzy-src): the observation node's own synchroniser and /tf listener. Here
the real modules are installed, so the test hides them (an import of a name set to None in
sys.modules raises ImportError, exactly what a missing module does) while the node is built."""

from __future__ import annotations

import sys

from ros_helpers import REPO, spin_until, synthetic_frame, transform


def test_observation_without_message_filters_and_tf2_ros(monkeypatch):
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    from occnet_ros.msg import Segmentation
    from occnet_ros.nodes import qos
    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner

    monkeypatch.setitem(sys.modules, "message_filters", None)
    monkeypatch.setitem(sys.modules, "tf2_ros", None)
    overrides = {"observation": {"tf_timeout_s": 0.5, "reconstruct_every_views": 1, "outlier_neighbors": 0}}
    runner = NodeRunner((OBSERVATION,), REPO / "config" / "occnet.yaml", overrides, threads=2).start()
    monkeypatch.undo()
    observation = runner.nodes["observation"]
    node = rclpy.create_node("fallback_probe", context=runner.context)
    context = runner.context
    try:
        assert observation.poses.backend == "tf_listener" and observation.matcher is not None
        tf = node.create_publisher(TFMessage, "/tf", 100)
        tf_static = node.create_publisher(TFMessage, "/tf_static", qos.TF_STATIC_LISTENER)
        pubs = [node.create_publisher(kind, topic, qos_profile_sensor_data)
                for kind, topic in ((Image, "depth/image"), (CameraInfo, "depth/camera_info"), (Segmentation, "segmentation"))]
        assert spin_until([node], lambda: all(p.get_subscription_count() for p in [tf, tf_static, *pubs]), timeout=60,
                          context=context)
        tf_static.publish(TFMessage(transforms=[transform("hl2", "hl2_depth_optical", 0.0, 0.1)]))

        def send(stamp: float) -> None:
            for pub, msg in zip(pubs, synthetic_frame(stamp)):
                pub.publish(msg)

        for index in range(3):  # transform first, then the frame: placed through the own synchroniser and buffer
            tf.publish(TFMessage(transforms=[transform("map", "hl2", 100.0 + index, 1.0)]))
            spin_until([node], lambda: False, timeout=0.1, context=context)
            send(100.0 + index)
            assert spin_until([node], lambda i=index: observation.frames_processed == i + 1, timeout=30, context=context), \
                observation.diagnostic_counts()
        send(200.0)  # no transform ever: a counted skip after tf_timeout_s
        assert spin_until([node], lambda: observation.skipped["pose_unavailable"] == 1, timeout=30, context=context), \
            observation.diagnostic_counts()
        assert observation.frames_processed == 3 and len(observation.store.objects) == 1
    finally:
        node.destroy_node()
        runner.shutdown()
