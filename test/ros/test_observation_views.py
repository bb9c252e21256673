"""The observation node's ObjectObservations carry depth views whose points are the cloud's."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from ros_helpers import REPO, spin_until
from scenes import poses_around, render_frame, two_object_scene
from scipy.spatial import cKDTree
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.msg import InstanceInfo, ObjectObservation, Segmentation
from occnet_ros.nodes.conversions import array_to_image, camera_info_from_intrinsics, cloud_to_xyz, matrix_to_pose, view_from_msg


def test_observations_carry_views_whose_points_coincide_with_the_cloud():
    import rclpy
    from rclpy.qos import qos_profile_sensor_data

    from occnet_ros.nodes.registry import OBSERVATION
    from occnet_ros.nodes.runner import NodeRunner

    overrides = {"observation": {"pose_source": "topic", "reconstruct_every_views": 1, "outlier_neighbors": 0,
                                 "max_views_per_object": 3}}
    runner = NodeRunner((OBSERVATION,), REPO / "config" / "occnet.yaml", overrides).start()
    latest: dict[int, ObjectObservation] = {}
    node = rclpy.create_node("observation_views_probe", context=runner.context)
    observation = runner.nodes["observation"]
    meshes = two_object_scene()
    poses = poses_around(4)
    try:
        node.create_subscription(ObjectObservation, "objects/observations", lambda m: latest.__setitem__(m.id, m), 100)
        pubs = {
            "pose": node.create_publisher(PoseStamped, "camera_pose", 10),
            "depth": node.create_publisher(Image, "depth/image", qos_profile_sensor_data),
            "info": node.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data),
            "seg": node.create_publisher(Segmentation, "segmentation", qos_profile_sensor_data),
        }
        for index, pose in enumerate(poses):
            depth, mask = render_frame(meshes, pose)
            header = Header(stamp=Time(sec=10 + index), frame_id="camera")
            seg = Segmentation(header=header, instance_image=array_to_image(mask, "16UC1", header))
            seg.instances = [InstanceInfo(id=1, class_name="box", score=0.9), InstanceInfo(id=2, class_name="can", score=0.9)]
            pubs["pose"].publish(PoseStamped(header=Header(stamp=header.stamp, frame_id="map"), pose=matrix_to_pose(pose)))
            spin_until([node], lambda: False, timeout=0.05, context=runner.context)
            pubs["info"].publish(camera_info_from_intrinsics(HL2_LONG_THROW, header))
            pubs["seg"].publish(seg)
            pubs["depth"].publish(array_to_image(np.nan_to_num(depth), "32FC1", header))
            assert spin_until([node], lambda i=index: observation.frames_processed > i, timeout=20, context=runner.context), \
                observation.diagnostic_counts()
        assert spin_until([node], lambda: len(latest) == 2 and all(len(m.views) == 3 for m in latest.values()), timeout=10,
                          context=runner.context), {k: len(v.views) for k, v in latest.items()}
    finally:
        node.destroy_node()
        runner.shutdown()
    voxel = observation.params["voxel_size_m"]
    for msg in latest.values():
        cloud = cloud_to_xyz(msg.cloud)
        views = [view_from_msg(v, "map") for v in msg.views]
        stamps = sorted(v.header.stamp.sec for v in msg.views)
        assert set(stamps) <= {10, 11, 12, 13} and len(set(stamps)) == 3
        for view, view_msg in zip(views, msg.views):
            assert max(view.depth.shape) <= 160 and view.mask.any() and (~view.mask).any()  # the margin is there
            index = view_msg.header.stamp.sec - 10
            np.testing.assert_allclose(view.world_from_camera, poses[index], atol=1e-9)
        # each view's object pixels back-project onto the cloud, and the cloud is made of them
        points = np.concatenate([v.points() for v in views])
        to_cloud, _ = cKDTree(cloud).query(points)
        to_views, _ = cKDTree(points).query(cloud)
        assert np.percentile(to_cloud, 99) < 2 * voxel, (msg.class_name, to_cloud.max())
        assert to_views.max() < 2 * voxel, (msg.class_name, to_views.max())
