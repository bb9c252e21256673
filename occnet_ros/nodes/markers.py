"""RViz markers of reconstructed objects: shaded TRIANGLE_LIST mesh + text label.

Every MarkerArray the reconstruction node publishes is the whole picture: a DELETEALL first,
then the mesh and label of every current object (``full_array``). A late RViz (transient local)
sees all objects from the last array alone, and a removed object is gone from the next one.
"""

from __future__ import annotations

import colorsys
import zlib
from collections.abc import Iterable
from itertools import chain

import numpy as np
import trimesh
from geometry_msgs.msg import Point, Pose, Vector3
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

MESH_NS = "occnet_mesh"
LABEL_NS = "occnet_label"


def class_colour(class_name: str) -> tuple[float, float, float]:
    hue = (zlib.crc32(class_name.encode()) % 360) / 360.0
    return colorsys.hsv_to_rgb(hue, 0.55, 0.95)


def mesh_marker(header: Header, obj_id: int, class_name: str, mesh_object: trimesh.Trimesh, pose: Pose, alpha: float) -> Marker:
    """TRIANGLE_LIST in the object frame; per-vertex colour = class colour shaded by face normal."""
    marker = Marker(header=header, ns=MESH_NS, id=int(obj_id), type=Marker.TRIANGLE_LIST, action=Marker.ADD, pose=pose)
    marker.scale = Vector3(x=1.0, y=1.0, z=1.0)
    triangles = np.asarray(mesh_object.vertices)[np.asarray(mesh_object.faces)].reshape(-1, 3)
    light = np.array([0.3, -0.4, 0.87])
    shade = 0.35 + 0.65 * np.clip(np.asarray(mesh_object.face_normals) @ light, 0.0, 1.0)
    base = np.array(class_colour(class_name))
    colours = np.repeat(shade[:, None] * base[None, :], 3, axis=0)
    marker.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in triangles]
    marker.colors = [ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(alpha)) for r, g, b in colours]
    marker.color = ColorRGBA(r=float(base[0]), g=float(base[1]), b=float(base[2]), a=float(alpha))
    return marker


def label_marker(header: Header, obj_id: int, text: str, pose: Pose, height: float) -> Marker:
    marker = Marker(header=header, ns=LABEL_NS, id=int(obj_id), type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
    marker.pose.position = Point(x=pose.position.x, y=pose.position.y, z=pose.position.z + height / 2 + 0.08)
    marker.pose.orientation.w = 1.0
    marker.scale.z = 0.06
    marker.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    marker.text = text
    return marker


def object_markers(header: Header, obj_id: int, class_name: str, mesh_object: trimesh.Trimesh, pose: Pose, height: float,
                   label: str, alpha: float) -> list[Marker]:
    """The mesh and the label of one object (built once per revision, reused in every array)."""
    return [mesh_marker(header, obj_id, class_name, mesh_object, pose, alpha), label_marker(header, obj_id, label, pose, height)]


def full_array(header: Header, per_object: Iterable[list[Marker]]) -> MarkerArray:
    """DELETEALL (every namespace of this topic) first, then every object's markers."""
    return MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL), *chain.from_iterable(per_object)])
