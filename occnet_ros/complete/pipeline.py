"""Cloud -> published object mesh: reconstruct, post-process, object frame. No ROS."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import trimesh

from occnet_ros.complete.object_frame import ObjectFrame, align_yaw_to_previous, object_frame
from occnet_ros.complete.plausibility import check_cloud
from occnet_ros.complete.postprocess import PostprocessSettings, postprocess
from occnet_ros.complete.reconstruct import Reconstructor
from occnet_ros.geometry.views import DepthView


@dataclass
class ObjectMesh:
    mesh_world: trimesh.Trimesh
    mesh_object: trimesh.Trimesh  # vertices in the object frame
    frame: ObjectFrame
    watertight: bool
    points: int
    timings: dict[str, float]
    views_used: int = 0  # depth views whose evidence was fused
    views_dropped: int = 0  # views that saw the object from behind the camera


class ObjectPipeline:
    """Reconstruct one object's cloud into its final mesh in a stable object frame."""

    def __init__(self, reconstructor: Reconstructor, post: PostprocessSettings = PostprocessSettings()) -> None:
        self.reconstructor = reconstructor
        self.post = post

    def run(self, points_world: np.ndarray, previous: ObjectMesh | None = None, views: list[DepthView] | None = None,
            class_name: str = "") -> ObjectMesh:
        """The object's mesh; with the depth views its points came from, their evidence is fused;
        with the previous revision, its frame is aligned to that one.

        The cloud is checked first (complete/plausibility.py: far outliers removed, an
        implausible size or shape raises ImplausibleCloudError) and everything runs recentred
        on a whole-metre origin in float64, so objects far from the world origin lose nothing."""
        checked = check_cloud(points_world, class_name)
        origin = np.round(np.median(checked.points, axis=0))
        local_views = [replace(v, world_from_camera=shifted(v.world_from_camera, -origin)) for v in views] if views else views
        result = self.reconstructor.reconstruct(checked.points - origin, local_views)
        start = time.perf_counter()
        processed = postprocess(result.mesh, self.post, seen=checked.points - origin)
        frame = object_frame(processed.mesh, previous.frame.yaw if previous else None)
        if previous is not None:
            frame = align_yaw_to_previous(processed.mesh, frame, previous.mesh_object)
        mesh_object = processed.mesh.copy().apply_transform(np.linalg.inv(frame.pose))
        frame = replace(frame, pose=shifted(frame.pose, origin))
        mesh_world = processed.mesh.copy().apply_translation(origin)
        timings = {**result.timings, "postprocess_s": time.perf_counter() - start}
        return ObjectMesh(mesh_world, mesh_object, frame, processed.watertight, result.input_points, timings,
                          result.views_used, result.views_dropped)


def shifted(matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """A 4x4 transform followed by a translation by ``offset``."""
    out = np.array(matrix, dtype=np.float64)
    out[:3, 3] += offset
    return out
