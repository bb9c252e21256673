"""The generated interfaces round-trip through a real publisher and subscriber."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from ros_helpers import ros_context, spin_until
from shape_msgs.msg import MeshTriangle

from occnet_ros.msg import InstanceInfo, ObjectObservation, ReconstructedObject, ReconstructedObjectArray, Segmentation
from occnet_ros.nodes.conversions import (
    array_to_image,
    cloud_to_xyz,
    image_to_array,
    matrix_to_pose,
    pose_to_matrix,
    xyz_cloud,
)
from occnet_ros.srv import ListObjects, SaveMeshes


def test_messages_round_trip_through_pub_sub():
    ids = np.arange(12, dtype=np.uint16).reshape(3, 4)
    seg = Segmentation(instance_image=array_to_image(ids, "16UC1"))
    seg.header.frame_id = "hl2_depth"
    seg.instances = [InstanceInfo(id=3, class_name="mug", score=0.875, transparent=False),
                     InstanceInfo(id=5, class_name="glass", score=0.75, transparent=True)]
    obj = ReconstructedObject(id=7, class_name="chair", status=ReconstructedObject.STATUS_RECONSTRUCTED, revision=2)
    obj.mesh.vertices = [Point(x=0.0, y=0.0, z=0.0), Point(x=1.0, y=0.0, z=0.0), Point(x=0.0, y=1.0, z=0.0)]
    obj.mesh.triangles = [MeshTriangle(vertex_indices=[0, 1, 2])]
    obj.timings.total_s = 1.5
    array = ReconstructedObjectArray(objects=[obj, obj])
    received: dict[str, object] = {}
    with ros_context() as context:
        import rclpy

        node = rclpy.create_node("interface_test", context=context)
        kinds = (("seg", Segmentation), ("obj", ReconstructedObject), ("arr", ReconstructedObjectArray))
        for name, kind in kinds:
            node.create_subscription(kind, f"test/{name}", lambda m, n=name: received.__setitem__(n, m), 10)
        pubs = {n: node.create_publisher(k, f"test/{n}", 10) for n, k in kinds}

        def publish_and_check():
            for name, msg in (("seg", seg), ("obj", obj), ("arr", array)):
                if name not in received:
                    pubs[name].publish(msg)
            return len(received) == 3

        assert spin_until([node], publish_and_check, context=context)
        node.destroy_node()
    assert received["seg"] == seg and received["obj"] == obj and received["arr"] == array
    assert np.array_equal(image_to_array(received["seg"].instance_image), ids)
    assert received["seg"].instances[1].transparent and received["obj"].timings.total_s == 1.5


def test_constants_and_services_exist():
    assert ObjectObservation.ACTION_REMOVE == 1 and ReconstructedObject.STATUS_FAILED == 2
    assert hasattr(ListObjects.Response(), "objects") and hasattr(SaveMeshes.Request(), "format")


def test_image_conversion_handles_padding_and_endianness():
    data = np.array([[1, 2, 3], [400, 500, 600]], dtype=np.uint16)
    msg = array_to_image(data, "16UC1")
    padded = bytearray()
    for row in data:
        padded += row.astype(">u2").tobytes() + b"\x00\x00"
    msg.is_bigendian, msg.step, msg.data = True, 8, bytes(padded)
    assert np.array_equal(image_to_array(msg), data)
    msg.step = 2  # shorter than a row
    try:
        image_to_array(msg)
    except ValueError as error:
        assert "step" in str(error)
    else:
        raise AssertionError("a bad step must raise")


def test_cloud_and_pose_conversions():
    from std_msgs.msg import Header

    points = np.random.default_rng(0).normal(size=(100, 3))
    colours = np.full((100, 3), 200, dtype=np.uint8)
    back = cloud_to_xyz(xyz_cloud(points, Header(), colours))
    assert np.allclose(back, points, atol=1e-6)
    matrix = np.eye(4)
    matrix[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    matrix[:3, 3] = [1, 2, 3]
    assert np.allclose(pose_to_matrix(matrix_to_pose(matrix)), matrix)
