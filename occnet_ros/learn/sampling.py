"""Occupancy targets and surface samples of watertight meshes."""

from __future__ import annotations

import numpy as np
import trimesh

from occnet_ros.geometry.raycast import raycasting_scene

# A canonical box spans 1 + padding and the observed cloud fills 0.8 of it: sample uniform
# queries in a cube 1.1 / 0.8 times the object's longest side.
UNIFORM_CUBE_FACTOR = 1.1 / 0.8


def occupancy(mesh: trimesh.Trimesh, points: np.ndarray, scene=None) -> np.ndarray:
    """Boolean inside-ness of points for a watertight mesh (open3d ray parity, fast)."""
    import open3d as o3d

    scene = scene or raycasting_scene([mesh])
    occ = scene.compute_occupancy(o3d.core.Tensor(np.asarray(points, dtype=np.float32)))
    return occ.numpy().astype(bool)


def occupancy_queries(
    mesh: trimesh.Trimesh,
    count: int,
    rng: np.random.Generator,
    near_fraction: float = 0.7,
    sigma_fraction: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Query points and their occupancy: ``near_fraction`` near the surface (Gaussian offsets
    of ``sigma_fraction`` of the object's longest side), the rest uniform in a cube around it."""
    if not mesh.is_watertight:
        raise ValueError("occupancy needs a watertight mesh")
    if not 0.0 <= near_fraction <= 1.0:
        raise ValueError(f"near_fraction must be in [0, 1], got {near_fraction}")
    low, high = mesh.bounds
    size = float((high - low).max())
    n_near = int(round(count * near_fraction))
    surface, _ = trimesh.sample.sample_surface(mesh, n_near, seed=int(rng.integers(2**31)))
    near = surface + rng.normal(scale=sigma_fraction * size, size=surface.shape)
    half = size * UNIFORM_CUBE_FACTOR / 2
    uniform = (low + high) / 2 + rng.uniform(-half, half, size=(count - n_near, 3))
    queries = np.concatenate([near, uniform]).astype(np.float32)
    return queries, occupancy(mesh, queries)


def surface_samples(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform samples of the mesh surface (count, 3)."""
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=int(rng.integers(2**31)))
    return np.asarray(points, dtype=np.float32)
