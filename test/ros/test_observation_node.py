"""Real rclpy publishers feed the observation node a two-object scene from 12 poses."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from ros_helpers import REPO, spin_until
from scenes import poses_around, render_frame, two_object_scene
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.msg import InstanceInfo, ObjectObservation, Segmentation
from occnet_ros.nodes.conversions import array_to_image, camera_info_from_intrinsics, cloud_to_xyz, matrix_to_pose


def test_two_objects_twelve_poses_swapped_ids_and_a_transparent_instance():
    import rclpy
    from rclpy.qos import qos_profile_sensor_data

    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner

    overrides = {"observation": {"pose_source": "topic", "reconstruct_every_views": 1, "outlier_neighbors": 0}}
    runner = NodeRunner((OBSERVATION,), REPO / "config" / "occnet.yaml", overrides).start()
    latest: dict[int, ObjectObservation] = {}
    node = rclpy.create_node("observation_probe", context=runner.context)
    observation = runner.nodes["observation"]
    meshes = two_object_scene()
    try:
        node.create_subscription(ObjectObservation, "objects/observations", lambda m: latest.__setitem__(m.id, m), 100)
        pubs = {
            "pose": node.create_publisher(PoseStamped, "camera_pose", 10),
            "depth": node.create_publisher(Image, "depth/image", qos_profile_sensor_data),
            "info": node.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data),
            "seg": node.create_publisher(Segmentation, "segmentation", qos_profile_sensor_data),
        }
        for index, pose in enumerate(poses_around(12)):
            ids = (1, 2) if index % 2 == 0 else (9, 4)  # instance ids change between frames
            depth, mask = render_frame(meshes, pose, ids)
            header = Header(stamp=Time(sec=10 + index), frame_id="camera")
            depth_mm = np.nan_to_num(depth * 1000).round().astype(np.uint16)
            seg = Segmentation(header=header, instance_image=array_to_image(mask, "16UC1", header))
            seg.instances = [InstanceInfo(id=ids[0], class_name="box", score=0.9),
                             InstanceInfo(id=ids[1], class_name="can", score=0.9, transparent=index == 3)]
            pubs["pose"].publish(PoseStamped(header=Header(stamp=header.stamp, frame_id="map"), pose=matrix_to_pose(pose)))
            spin_until([node], lambda: False, timeout=0.05, context=runner.context)
            pubs["info"].publish(camera_info_from_intrinsics(HL2_LONG_THROW, header))
            pubs["seg"].publish(seg)
            pubs["depth"].publish(array_to_image(depth_mm, "16UC1", header))
            assert spin_until([node], lambda i=index: observation.frames_processed > i, timeout=20, context=runner.context), \
                observation.diagnostic_counts()
        assert spin_until([node], lambda: len(latest) == 2 and all(len(m.views) >= 10 for m in latest.values()), timeout=10,
                          context=runner.context), {k: len(v.views) for k, v in latest.items()}
    finally:
        node.destroy_node()
        runner.shutdown()
    assert len(observation.store.objects) == 2
    assert observation.diagnostic_counts()["instance_transparent"] == 1
    centres = {m.class_name: cloud_to_xyz(m.cloud) for m in latest.values()}
    assert all(len(m.views) <= 10 for m in latest.values())
    # noise-free depth (1 mm quantisation): points lie on the true surfaces, well within 1 cm
    import trimesh

    for mesh, name in zip(meshes, ("box", "can")):
        distance = np.abs(trimesh.proximity.signed_distance(mesh, centres[name][::7]))
        assert np.percentile(distance, 99) < 0.01, (name, distance.max())
