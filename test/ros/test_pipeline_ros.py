"""Real rclpy: simulated HoloLens frames -> observation node -> reconstruction node -> mesh."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from ros_helpers import REPO, call_service, spin_until
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from occnet_ros.evaluate.metrics import mesh_metrics
from occnet_ros.msg import InstanceInfo, ReconstructedObject, Segmentation
from occnet_ros.nodes.conversions import array_to_image, camera_info_from_intrinsics, matrix_to_transform, mesh_from_msg, pose_to_matrix
from occnet_ros.sim.hololens import HEADSET_TO_OPTICAL, HoloLensSimulator, SimSettings

# The shipped default model on one simulated object seen in 8 frames must reach at least this
# F@1% (measured 0.75 when it was committed).
F_SCORE_THRESHOLD = 0.5


def frames_as_messages(sim: HoloLensSimulator, count: int):
    for index in range(count):
        frame = sim.frame(index)
        stamp = Time(sec=100 + index, nanosec=0)
        tf = TransformStamped(header=Header(stamp=stamp, frame_id="map"), child_frame_id="hl2")
        tf.transform = matrix_to_transform(frame.headset_pose)
        header = Header(stamp=stamp, frame_id="hl2_depth_optical")
        seg = Segmentation(header=header, instance_image=array_to_image(frame.instance_ids, "16UC1", header))
        seg.instances = [InstanceInfo(id=i, class_name=c, score=s, transparent=t) for i, c, s, t in frame.instances]
        yield (TFMessage(transforms=[tf]), array_to_image(frame.depth_mm, "16UC1", header),
               camera_info_from_intrinsics(sim.intrinsics, header), seg)


@pytest.fixture(scope="module")
def shipped_checkpoint():
    from occnet_ros.model.checkpoint import default_checkpoint

    return default_checkpoint()


def test_simulated_frames_become_a_watertight_mesh(tmp_path, shipped_checkpoint):
    import rclpy
    from rclpy.qos import qos_profile_sensor_data

    from occnet_ros.nodes.registry import OBSERVATION, RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    sim = HoloLensSimulator(SimSettings(seed=3, num_objects=1, num_frames=8, mask_errors=True))
    gt = next(o for o in sim.room.objects if not o.transparent)
    overrides = {"reconstruction": {"checkpoint": str(shipped_checkpoint)}, "observation": {"reconstruct_every_views": 8}}
    runner = NodeRunner((OBSERVATION, RECONSTRUCTION), REPO / "config" / "occnet.yaml", overrides).start()
    received: list[ReconstructedObject] = []
    node = rclpy.create_node("pipeline_probe", context=runner.context)
    try:
        node.create_subscription(ReconstructedObject, "objects", received.append, 10)
        tf_pub = node.create_publisher(TFMessage, "/tf", 10)
        depth_pub = node.create_publisher(Image, "depth/image", qos_profile_sensor_data)
        info_pub = node.create_publisher(CameraInfo, "depth/camera_info", qos_profile_sensor_data)
        seg_pub = node.create_publisher(Segmentation, "segmentation", qos_profile_sensor_data)
        static = TransformStamped(header=Header(frame_id="hl2"), child_frame_id="hl2_depth_optical")
        static.transform = matrix_to_transform(HEADSET_TO_OPTICAL)
        observation = runner.nodes["observation"]
        # static TF as a /tf message with the first stamp keeps the test independent of latching
        for index, (tf, depth, info, seg) in enumerate(frames_as_messages(sim, 8)):
            static.header.stamp = tf.transforms[0].header.stamp
            tf.transforms.append(static)
            tf_pub.publish(tf)
            assert spin_until([node], lambda: True, timeout=0.05, context=runner.context) or True
            for pub, msg in ((info_pub, info), (seg_pub, seg), (depth_pub, depth)):
                pub.publish(msg)
            assert spin_until([node], lambda i=index: observation.frames_processed > i, timeout=20, context=runner.context), \
                observation.diagnostic_counts()
        done = lambda: any(m.status == ReconstructedObject.STATUS_RECONSTRUCTED for m in received)  # noqa: E731
        assert spin_until([node], done, timeout=120, context=runner.context), [m.status_message for m in received]
        services = exercise_services(node, runner, tmp_path)
    finally:
        node.destroy_node()
        runner.shutdown()
    assert observation.diagnostic_counts().get("instance_transparent", 0) >= 1  # the glass was skipped
    msg = next(m for m in received if m.status == ReconstructedObject.STATUS_RECONSTRUCTED)
    assert msg.class_name == gt.class_name and msg.watertight and 0 < len(msg.mesh.triangles) <= 5000
    mesh = mesh_from_msg(msg.mesh).apply_transform(pose_to_matrix(msg.pose))
    assert mesh.is_watertight
    listed, saved, queued, forgotten, deleted = services
    assert [o.class_name for o in listed.objects] == [gt.class_name] and listed.objects[0].status == 1
    assert saved.success and len(saved.files) == 1
    loaded = trimesh.load(saved.files[0], force="mesh")
    assert loaded.is_watertight and np.allclose(loaded.bounds, mesh.bounds, atol=1e-4)
    assert queued.success and list(queued.queued_ids) == [msg.id]
    assert forgotten.success and deleted
    metrics = mesh_metrics(mesh, gt.mesh, samples=30000)
    print(f"F@1% {metrics.fscore_1pct:.3f}, CD-L1 {metrics.chamfer_l1:.4f}, IoU {metrics.iou}")
    assert metrics.fscore_1pct >= F_SCORE_THRESHOLD
    assert np.linalg.norm(mesh.bounds.mean(0) - gt.mesh.bounds.mean(0)) < 0.1


def call(node, context, client, request):
    return call_service(node, client, request, context, attempts=3, timeout=30.0)


def exercise_services(node, runner, tmp_path):
    """list, save (ply), reconstruct now, forget: the replies, and whether the markers dropped the
    forgotten object (an array that starts with DELETEALL and holds none of its markers)."""
    from visualization_msgs.msg import Marker, MarkerArray

    from occnet_ros.nodes import qos
    from occnet_ros.srv import ForgetObject, ListObjects, Reconstruct, SaveMeshes

    context = runner.context
    arrays = []
    node.create_subscription(MarkerArray, "markers", arrays.append, qos.MARKERS)
    listed = call(node, context, node.create_client(ListObjects, "/reconstruction/list_objects"), ListObjects.Request())
    saved = call(node, context, node.create_client(SaveMeshes, "/reconstruction/save_meshes"),
                 SaveMeshes.Request(directory=str(tmp_path / "saved"), format="ply"))
    queued = call(node, context, node.create_client(Reconstruct, "/reconstruction/reconstruct"), Reconstruct.Request())
    forgotten = call(node, context, node.create_client(ForgetObject, "/observation/forget_object"),
                     ForgetObject.Request(id=listed.objects[0].id))
    gone = lambda a, i=listed.objects[0].id: a.markers[0].action == Marker.DELETEALL and all(m.id != i for m in a.markers[1:])  # noqa: E731
    deleted = spin_until([node], lambda: any(gone(a) for a in arrays), timeout=10, context=context)
    return listed, saved, queued, forgotten, deleted
