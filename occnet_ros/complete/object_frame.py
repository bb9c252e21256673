"""Object frames: gravity-aligned PCA orientation, kept stable across updates; Umeyama."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from occnet_ros.geometry.frames import yaw_matrix


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = False) -> np.ndarray:
    """4x4 similarity (rotation, translation, optional scale) best mapping source onto target
    points in the least-squares sense (Umeyama 1991). Rows correspond."""
    if source.shape != target.shape or source.ndim != 2 or len(source) < 3:
        raise ValueError("umeyama needs two (N >= 3, D) arrays of equal shape")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    s, t = source - mu_s, target - mu_t
    cov = t.T @ s / len(source)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(len(d))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1, -1] = -1
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / s.var(axis=0).sum()) if with_scale else 1.0
    matrix = np.eye(len(d) + 1)
    matrix[: len(d), : len(d)] = scale * rotation
    matrix[: len(d), -1] = mu_t - scale * rotation @ mu_s
    return matrix


def wrap_angle(angle: float) -> float:
    return (angle + np.pi) % (2 * np.pi) - np.pi


@dataclass
class ObjectFrame:
    """Object pose in the world (z up, x along the main horizontal axis) and its extents."""

    pose: np.ndarray  # 4x4 object -> world
    extents: np.ndarray  # (3,) metres along the object's x, y, z
    yaw: float


def surface_moments_xy(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Exact centroid and covariance of the horizontal (x, y) coordinates over the surface.

    Per triangle with corners v1..v3 and area A: integral of x = A * mean(v), and integral of
    x x^T = A / 12 * (sum v_i v_i^T + s s^T), s = sum v_i. Deterministic, unlike sampling.
    """
    corners = np.asarray(mesh.triangles)[:, :, :2]
    area = np.asarray(mesh.area_faces)
    total = area.sum()
    centroid = (area[:, None] * corners.mean(axis=1)).sum(axis=0) / total
    s = corners.sum(axis=1)
    second = np.einsum("f,fij->ij", area / 12.0, np.einsum("fki,fkj->fij", corners, corners) + np.einsum("fi,fj->fij", s, s))
    return centroid, second / total - np.outer(centroid, centroid)


def principal_horizontal_axes(mesh: trimesh.Trimesh) -> tuple[float, float]:
    """Yaw of the main horizontal axis and the ratio of the two horizontal variances (<= 1)."""
    _, cov = surface_moments_xy(mesh)
    values, vectors = np.linalg.eigh(cov)
    axis = vectors[:, 1]
    return float(np.arctan2(axis[1], axis[0])), float(values[0] / max(values[1], 1e-12))


def object_frame(mesh: trimesh.Trimesh, previous_yaw: float | None = None) -> ObjectFrame:
    """Gravity-aligned PCA frame of a world-frame mesh.

    The principal axis fixes yaw only up to 180 degrees (90 when the footprint is nearly
    round or square); among those candidates the one closest to ``previous_yaw`` is taken, so
    the frame does not flip between updates of one object.
    """
    if len(mesh.faces) == 0:
        raise ValueError("an object frame needs a mesh with faces")
    yaw, ratio = principal_horizontal_axes(mesh)
    steps = 4 if ratio > 0.8 else 2
    candidates = [wrap_angle(yaw + k * 2 * np.pi / steps) for k in range(steps)]
    reference = 0.0 if previous_yaw is None else previous_yaw
    yaw = min(candidates, key=lambda c: abs(wrap_angle(c - reference)))
    rotation = yaw_matrix(yaw)
    local = np.asarray(mesh.vertices) @ rotation  # world -> object axes (rows)
    low, high = local.min(axis=0), local.max(axis=0)
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = rotation @ ((low + high) / 2)
    return ObjectFrame(pose, high - low, yaw)


def align_yaw_to_previous(
    mesh: trimesh.Trimesh, frame: ObjectFrame, previous_object_mesh: trimesh.Trimesh, iterations: int = 10, samples: int = 2000
) -> ObjectFrame:
    """Re-orient a new object frame so the new mesh lines up with the previous revision.

    Among the PCA yaw candidates (every 90 degrees) the one whose object-frame mesh is
    closest (Chamfer) to the previous object-frame mesh wins; a few iterations of yaw-only
    Procrustes (2-D Umeyama on nearest neighbours) then refine it. Symmetric or nearly square
    objects thus keep their frame between updates instead of jumping by 90 or 180 degrees.
    """
    from scipy.spatial import cKDTree

    previous = trimesh.sample.sample_surface(previous_object_mesh, samples, seed=1)[0]
    tree = cKDTree(previous)
    world = trimesh.sample.sample_surface(mesh, samples, seed=2)[0]

    def local(yaw: float, center: np.ndarray) -> np.ndarray:
        return (world - center) @ yaw_matrix(yaw)

    def chamfer(points: np.ndarray) -> float:
        return float(tree.query(points, workers=1)[0].mean() + cKDTree(points).query(previous, workers=1)[0].mean())

    center = frame.pose[:3, 3]
    yaw = min((wrap_angle(frame.yaw + k * np.pi / 2) for k in range(4)), key=lambda c: chamfer(local(c, center)))
    for _ in range(iterations):
        points = local(yaw, center)
        matched = previous[tree.query(points, workers=1)[1]]
        step = umeyama(points[:, :2], matched[:, :2])  # 2-D rigid: rotation about z + shift
        yaw = wrap_angle(yaw - float(np.arctan2(step[1, 0], step[0, 0])))
        center = center - yaw_matrix(yaw)[:, :2] @ step[:2, 2]
    rotation = yaw_matrix(yaw)
    local_vertices = (np.asarray(mesh.vertices) - center) @ rotation
    low, high = local_vertices.min(axis=0), local_vertices.max(axis=0)
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = center + rotation @ ((low + high) / 2)
    return ObjectFrame(pose, high - low, yaw)
