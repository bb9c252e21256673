"""The observation node fed the way common segmenters publish: a class-id image + class_table, and an
instance-id image + vision_msgs/Detection2DArray (skipped, with the reason, where vision_msgs is not built)."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from ros_helpers import REPO, spin_until
from scenes import poses_around, render_frame, two_object_scene
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.msg import ObjectObservation
from occnet_ros.nodes.conversions import array_to_image, camera_info_from_intrinsics, matrix_to_pose
from occnet_ros.nodes.segmentation_inputs import detection_array_type


def run_frames(overrides: dict, extra_publish) -> tuple[dict, object]:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data

    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner

    base = {"pose_source": "topic", "reconstruct_every_views": 1, "outlier_neighbors": 0}
    runner = NodeRunner((OBSERVATION,), REPO / "config" / "occnet.yaml", {"observation": {**base, **overrides}}).start()
    latest: dict[int, ObjectObservation] = {}
    node = rclpy.create_node("segmenter_probe", context=runner.context)
    observation = runner.nodes["observation"]
    meshes = two_object_scene()
    try:
        node.create_subscription(ObjectObservation, "objects/observations", lambda m: latest.__setitem__(m.id, m), 100)
        pose_pub = node.create_publisher(PoseStamped, "camera_pose", 10)
        depth_pub = node.create_publisher(Image, "depth/image", qos_profile_sensor_data)
        info_pub = node.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data)
        image_pub = node.create_publisher(Image, "segmentation/image", qos_profile_sensor_data)
        publish_more = extra_publish(node)
        for index, pose in enumerate(poses_around(6)):
            depth, mask = render_frame(meshes, pose, (5, 7))  # the segmenter's ids / class ids: 5 and 7
            header = Header(stamp=Time(sec=10 + index), frame_id="camera")
            pose_pub.publish(PoseStamped(header=Header(stamp=header.stamp, frame_id="map"), pose=matrix_to_pose(pose)))
            spin_until([node], lambda: False, timeout=0.05, context=runner.context)
            info_pub.publish(camera_info_from_intrinsics(HL2_LONG_THROW, header))
            image_pub.publish(array_to_image(mask.astype(np.uint8), "mono8", header))
            publish_more(header)
            depth_pub.publish(array_to_image(np.nan_to_num(depth * 1000).round().astype(np.uint16), "16UC1", header))
            assert spin_until([node], lambda i=index: observation.frames_processed > i, timeout=20, context=runner.context), \
                observation.diagnostic_counts()
        spin_until([node], lambda: len(latest) == 2, timeout=10, context=runner.context)
    finally:
        node.destroy_node()
        runner.shutdown()
    return latest, observation


def test_class_id_image_with_a_table():
    latest, observation = run_frames({"segmentation_input": "image_table", "segmentation_ids": "class",
                                      "class_table": "5:box,7:can"}, lambda node: (lambda header: None))
    assert sorted(m.class_name for m in latest.values()) == ["box", "can"]
    assert len(observation.store.objects) == 2


@pytest.mark.skipif(detection_array_type() is None, reason="vision_msgs is not built here (upstream sources in "
                    "../shared/ros2-jazzy-src build it); the image_detections input refuses to start without it")
def test_instance_image_with_detection2darray():
    from rclpy.qos import qos_profile_sensor_data
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    def extra(node):
        pub = node.create_publisher(Detection2DArray, "segmentation/detections", qos_profile_sensor_data)

        def publish(header):
            detections = []
            for instance, name, score in ((5, "41", 0.9), (7, "can", 0.8), (12, "ghost", 0.9)):  # 12: not in the image
                hypothesis = ObjectHypothesisWithPose()
                hypothesis.hypothesis.class_id, hypothesis.hypothesis.score = name, score
                detections.append(Detection2D(header=header, id=str(instance), results=[hypothesis]))
            pub.publish(Detection2DArray(header=header, detections=detections))
        return publish

    latest, observation = run_frames({"segmentation_input": "image_detections", "class_table": "41:box"}, extra)
    assert sorted(m.class_name for m in latest.values()) == ["box", "can"]
    assert observation.diagnostic_counts()["segmentation_detection_id_not_in_image"] == 6
