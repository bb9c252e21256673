"""The reconstruction node fuses an observation's views; bad and behind-camera views are counted skips."""

from __future__ import annotations

import numpy as np
from ros_helpers import REPO, spin_until
from scenes import poses_around, render_frame, two_object_scene
from std_msgs.msg import Header

from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.geometry.views import DepthView
from occnet_ros.msg import ObjectObservation, ReconstructedObject
from occnet_ros.nodes.conversions import view_to_msg, xyz_cloud
from occnet_ros.observe.crop import crop_view

TURN = np.diag([-1.0, 1.0, -1.0, 1.0])  # half a turn about the camera's y axis: the object is behind it


def box_observation() -> ObjectObservation:
    meshes = two_object_scene()
    header = Header(frame_id="map")
    views = []
    for pose in poses_around(4)[:2]:
        depth, mask = render_frame(meshes, pose)
        views.append(crop_view(depth, mask == 1, HL2_LONG_THROW.k, pose))
    behind = DepthView(views[0].depth, views[0].mask, views[0].k, views[0].world_from_camera @ TURN)
    bad = view_to_msg(views[1], header)
    bad.depth.encoding = "16UC1"
    msg = ObjectObservation(header=header, id=5, class_name="box", action=ObjectObservation.ACTION_UPDATE,
                            request_reconstruction=True)
    msg.cloud = xyz_cloud(np.concatenate([v.points() for v in views]), header)
    msg.views = [view_to_msg(views[0], header), bad, view_to_msg(behind, header), view_to_msg(views[1], header)]
    return msg


def test_views_are_fused_and_bad_ones_counted():
    import rclpy

    from occnet_ros.model.checkpoint import default_checkpoint
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    overrides = {"reconstruction": {"checkpoint": str(default_checkpoint())}}
    runner = NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", overrides).start()
    received: list[ReconstructedObject] = []
    node = rclpy.create_node("reconstruction_views_probe", context=runner.context)
    reconstruction = runner.nodes["reconstruction"]
    try:
        node.create_subscription(ReconstructedObject, "objects", received.append, 10)
        publisher = node.create_publisher(ObjectObservation, "objects/observations", 10)
        msg = box_observation()
        assert spin_until([node], lambda: publisher.get_subscription_count() > 0, timeout=10, context=runner.context)
        publisher.publish(msg)
        assert spin_until([node], lambda: len(received) >= 1, timeout=120, context=runner.context)
        first = received[-1]
        reconstruction.params["use_evidence"] = False
        publisher.publish(msg)
        assert spin_until([node], lambda: len(received) >= 2, timeout=120, context=runner.context)
        second = received[-1]
        counts = dict(reconstruction.views_dropped)
    finally:
        node.destroy_node()
        runner.shutdown()
    assert first.status == ReconstructedObject.STATUS_RECONSTRUCTED, first.status_message
    assert first.views_used == 2  # the good view and the one beside it; the bad and the turned one dropped
    assert counts == {"bad_message": 2, "behind_camera": 1}  # the bad view in both messages; behind: evidence run only
    assert second.status == ReconstructedObject.STATUS_RECONSTRUCTED and second.views_used == 4  # prior: the views whose points are in the cloud
