"""Depth rendering of meshes (open3d raycasting): depth, hit geometry, surface normals.

Used to make training inputs the way the sensor makes them (geometry/sensor.py adds the sensor's
errors), by evaluation, and by the HoloLens 2 simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from occnet_ros.geometry.camera import Intrinsics


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


@dataclass
class RayHits:
    """What one raycast of a camera saw, per pixel (H, W): what the sensor model needs besides depth.

    ``depth`` is z-depth for a pinhole camera and the distance along the ray for a ray-table one;
    ``depth_per_range`` converts a change of range along the ray into a change of ``depth``.
    """

    depth: np.ndarray  # (H, W) float32 metres, NaN = no hit
    geometry: np.ndarray  # (H, W) int64 hit geometry id, -1 = none
    points: np.ndarray  # (H, W, 3) float32 world hit points, NaN = none
    normals: np.ndarray  # (H, W, 3) float32 unit surface normals turned to face the camera, NaN = none
    directions: np.ndarray  # (H, W, 3) float32 unit ray directions in the world
    depth_per_range: np.ndarray  # (H, W) float32
    focal_px: float  # pixels per radian near the image centre

    def incidence_cos(self) -> np.ndarray:
        """(H, W) cosine of the angle between each ray and the surface normal (NaN = no hit)."""
        return np.abs(np.einsum("hwc,hwc->hw", self.normals, self.directions))


def hits_from_rays(scene, rays: np.ndarray, depth_per_t: np.ndarray, focal_px: float) -> RayHits:
    """RayHits of (H, W, 6) rays (origin, direction); depth = t_hit * depth_per_t (H, W)."""
    import open3d as o3d

    shape = rays.shape[:2]
    hits = scene.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays, dtype=np.float32)))
    t_hit = hits["t_hit"].numpy().reshape(shape)
    depth = (t_hit * depth_per_t).astype(np.float32)
    depth[~np.isfinite(depth)] = np.nan
    hit = np.isfinite(depth)
    geometry = hits["geometry_ids"].numpy().astype(np.int64).reshape(shape)
    geometry[~hit] = -1
    length = np.linalg.norm(rays[..., 3:], axis=-1)
    directions = (rays[..., 3:] / length[..., None]).astype(np.float32)
    with np.errstate(invalid="ignore"):
        points = np.where(hit[..., None], rays[..., :3] + t_hit[..., None] * rays[..., 3:], np.nan).astype(np.float32)
        normals = hits["primitive_normals"].numpy().reshape(shape + (3,))
        normals = np.where(np.einsum("hwc,hwc->hw", normals, directions)[..., None] > 0, -normals, normals)
        normals = np.where(hit[..., None], normals, np.nan).astype(np.float32)
    return RayHits(depth, geometry, points, normals, directions, (depth_per_t / length).astype(np.float32), float(focal_px))


def render_hits(scene, intrinsics: Intrinsics, cam_to_world: np.ndarray) -> RayHits:
    """Noise-free z-depth and per-pixel geometry (hit points, normals, ray directions) of a pinhole camera."""
    import open3d as o3d

    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        intrinsic_matrix=o3d.core.Tensor(open3d_k(intrinsics)),
        extrinsic_matrix=o3d.core.Tensor(np.linalg.inv(cam_to_world)),
        width_px=intrinsics.width,
        height_px=intrinsics.height,
    ).numpy()
    # t_hit is in units of the ray direction; z-depth along the optical axis is t * (direction . forward).
    return hits_from_rays(scene, rays, rays[..., 3:] @ cam_to_world[:3, 2], intrinsics.fx)


def render_depth(scene, intrinsics: Intrinsics, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free z-depth (H, W) in metres (NaN where nothing is hit) and the hit geometry ids."""
    hits = render_hits(scene, intrinsics, cam_to_world)
    return hits.depth, hits.geometry


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
