"""Depth rendering of meshes (open3d raycasting) with a time-of-flight noise model.

Used to make training inputs the way the sensor makes them, by evaluation, and by the
HoloLens 2 simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from occnet_ros.geometry.camera import Intrinsics, backproject, transform_points


def raycasting_scene(meshes: list[trimesh.Trimesh]):
    """An open3d RaycastingScene holding the meshes; geometry ids follow the list order."""
    import open3d as o3d  # heavy, imported lazily

    scene = o3d.t.geometry.RaycastingScene()
    for mesh in meshes:
        scene.add_triangles(
            o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)),
            o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.uint32)),
        )
    return scene


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """4x4 camera-to-world pose of an optical-frame camera (z forward, y down) at eye looking at target."""
    forward = np.asarray(target, float) - np.asarray(eye, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-6:  # looking straight up or down
        right = np.cross(forward, np.array([1.0, 0.0, 0.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, down, forward, eye
    return pose


def open3d_k(intrinsics: Intrinsics) -> np.ndarray:
    """K for open3d's create_rays_pinhole, which casts pixel u through (u + 0.5 - cx) / fx; ROS
    (CameraInfo) puts pixel centres at integer coordinates, so cx and cy grow by half a pixel."""
    k = intrinsics.k.copy()
    k[0, 2] += 0.5
    k[1, 2] += 0.5
    return k


def render_depth(scene, intrinsics: Intrinsics, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free z-depth (H, W) in metres (NaN where nothing is hit) and the hit geometry ids."""
    import open3d as o3d

    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        intrinsic_matrix=o3d.core.Tensor(open3d_k(intrinsics)),
        extrinsic_matrix=o3d.core.Tensor(np.linalg.inv(cam_to_world)),
        width_px=intrinsics.width,
        height_px=intrinsics.height,
    )
    hits = scene.cast_rays(rays)
    t_hit = hits["t_hit"].numpy()
    directions = rays.numpy()[..., 3:]
    # t_hit is in units of the ray direction; convert to z-depth along the optical axis.
    forward = cam_to_world[:3, 2]
    depth = (t_hit * (directions @ forward)).astype(np.float32)
    depth[~np.isfinite(depth)] = np.nan
    geometry = hits["geometry_ids"].numpy().astype(np.int64)
    geometry[~np.isfinite(depth)] = -1
    return depth, geometry


@dataclass(frozen=True)
class ToFNoise:
    """Time-of-flight depth noise: Gaussian growing with range, dropouts, flying pixels."""

    sigma_base_m: float = 0.0015
    sigma_per_m: float = 0.0015
    dropout: float = 0.03
    flying_pixel_prob: float = 0.5
    edge_jump_m: float = 0.05

    def apply(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A noisy copy of a z-depth image (NaN = no return)."""
        noisy = depth + rng.normal(size=depth.shape).astype(np.float32) * (
            self.sigma_base_m + self.sigma_per_m * np.nan_to_num(depth)
        ).astype(np.float32)
        noisy = self._flying_pixels(noisy, rng)
        noisy[rng.random(depth.shape) < self.dropout] = np.nan
        return noisy

    def _flying_pixels(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """At depth edges, mix a pixel with its far neighbour (mixed-pixel returns)."""
        if self.flying_pixel_prob <= 0:
            return depth
        filled = np.where(np.isfinite(depth), depth, np.inf)
        right = np.roll(filled, -1, axis=1)
        with np.errstate(invalid="ignore"):
            jump = np.isfinite(filled) & np.isfinite(right) & (np.abs(right - filled) > self.edge_jump_m)
        pick = jump & (rng.random(depth.shape) < self.flying_pixel_prob)
        mix = rng.random(depth.shape).astype(np.float32)
        out = depth.copy()
        out[pick] = filled[pick] * (1 - mix[pick]) + right[pick] * mix[pick]
        return out


def sample_viewpoints(
    rng: np.random.Generator,
    count: int,
    target: np.ndarray,
    object_size: float,
    height_range: tuple[float, float] = (1.3, 1.8),
    distance_factor: tuple[float, float] = (2.0, 5.0),
    distance_range: tuple[float, float] = (0.35, 3.0),
) -> list[np.ndarray]:
    """Camera-to-world poses around ``target`` as a standing person wearing a headset sees it.

    Eye height is drawn in ``height_range`` metres above the floor (z = 0); horizontal distance
    grows with the object size so small objects are seen from close up.
    """
    poses = []
    for _ in range(count):
        distance = float(np.clip(object_size * rng.uniform(*distance_factor), *distance_range))
        azimuth = rng.uniform(0, 2 * np.pi)
        eye_height = rng.uniform(*height_range)
        eye = np.array([target[0] + distance * np.cos(azimuth), target[1] + distance * np.sin(azimuth), eye_height])
        aim = np.asarray(target, float) + rng.normal(scale=0.05 * object_size, size=3)
        poses.append(look_at(eye, aim))
    return poses


def render_partial_views(
    mesh: trimesh.Trimesh,
    intrinsics: Intrinsics,
    poses: list[np.ndarray],
    rng: np.random.Generator,
    noise: ToFNoise | None = ToFNoise(),
    max_range: float = 5.0,
) -> list[np.ndarray]:
    """World-frame points (N_i, 3) of the mesh seen from each camera pose, with sensor noise."""
    scene = raycasting_scene([mesh])
    views = []
    for pose in poses:
        depth, _ = render_depth(scene, intrinsics, pose)
        if noise is not None:
            depth = noise.apply(depth, rng)
        depth[(depth <= 0) | (depth > max_range)] = np.nan
        points, _ = backproject(depth, intrinsics)
        views.append(transform_points(pose, points).astype(np.float32))
    return views
