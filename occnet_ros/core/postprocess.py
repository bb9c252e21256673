"""Mesh post-processing: smoothing, small components, decimation, watertight check."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import trimesh

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostprocessSettings:
    smoothing_iterations: int = 5  # Taubin (no shrinkage); 0 disables
    min_component_fraction: float = 0.05  # drop components below this fraction of the largest's area
    max_triangles: int = 5000  # keeps 16-bit indices valid for Unity


@dataclass
class PostprocessResult:
    mesh: trimesh.Trimesh
    watertight: bool
    removed_components: int


def drop_small_components(mesh: trimesh.Trimesh, min_fraction: float) -> tuple[trimesh.Trimesh, int]:
    """Keep connected components whose area is at least min_fraction of the largest one."""
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return mesh, 0
    areas = np.array([p.area for p in parts])
    keep = [p for p, a in zip(parts, areas) if a >= min_fraction * areas.max()]
    return trimesh.util.concatenate(keep), len(parts) - len(keep)


def decimate(mesh: trimesh.Trimesh, max_triangles: int) -> trimesh.Trimesh:
    """Quadric decimation (fast-simplification) to at most max_triangles faces."""
    import fast_simplification

    if len(mesh.faces) <= max_triangles:
        return mesh
    target = 1.0 - max_triangles / len(mesh.faces)
    for reduction in (target, min(target + 0.02, 0.999), min(target + 0.05, 0.999)):
        points, faces = fast_simplification.simplify(
            np.asarray(mesh.vertices, dtype=np.float32), np.asarray(mesh.faces, dtype=np.int32), target_reduction=reduction
        )
        out = trimesh.Trimesh(points, faces, process=True)
        if len(out.faces) <= max_triangles:
            return out
    return out


def postprocess(mesh: trimesh.Trimesh, settings: PostprocessSettings = PostprocessSettings()) -> PostprocessResult:
    """Smooth, drop small components, decimate to <= max_triangles; report watertightness."""
    if len(mesh.faces) == 0:
        raise ValueError("cannot post-process an empty mesh")
    mesh, removed = drop_small_components(mesh.copy(), settings.min_component_fraction)
    if settings.smoothing_iterations > 0:
        trimesh.smoothing.filter_taubin(mesh, iterations=settings.smoothing_iterations)
    mesh = decimate(mesh, settings.max_triangles)
    if len(mesh.faces) > settings.max_triangles:
        raise RuntimeError(f"decimation left {len(mesh.faces)} > {settings.max_triangles} triangles")
    mesh.fix_normals()
    return PostprocessResult(mesh, bool(mesh.is_watertight), removed)
