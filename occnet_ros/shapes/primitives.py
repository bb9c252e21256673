"""Primitive solids and manifold booleans the shape families are built from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import manifold3d
import numpy as np
import trimesh
from trimesh import transformations as tf

EPS = 0.002  # overlap between touching parts [m], keeps unions connected
# Faces that would be flush with a neighbour's face are set back by at least GAP:
# exactly or nearly coplanar faces make manifold booleans emit pinched vertices.
GAP = 0.003
MAX_ATTEMPTS = 8  # fresh draws before giving up on a shape
Z_AXIS = (0.0, 0.0, 1.0)
X_AXIS = (1.0, 0.0, 0.0)

# what a degenerate draw can raise inside trimesh / manifold3d
BUILD_ERRORS = (ValueError, RuntimeError, ArithmeticError, IndexError)

Vec = Sequence[float]
Builder = Callable[[np.random.Generator], trimesh.Trimesh]


# ---------------------------------------------------------------- primitives


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One uniform draw as a plain float."""
    return float(rng.uniform(lo, hi))


def aabb(lo: Vec, hi: Vec) -> trimesh.Trimesh:
    """Axis-aligned box between two corners (given in any order)."""
    bounds = np.sort(np.array([lo, hi], dtype=np.float64), axis=0)
    return trimesh.creation.box(bounds=bounds)


def cyl(
    r: float, z0: float, z1: float, x: float = 0.0, y: float = 0.0, sections: int = 32
) -> trimesh.Trimesh:
    """Vertical cylinder of radius ``r`` spanning ``z0..z1`` at (x, y)."""
    return rod((x, y, z0), (x, y, z1), r, sections)


def rod(p0: Vec, p1: Vec, r: float, sections: int = 24) -> trimesh.Trimesh:
    """Cylinder of radius ``r`` whose axis runs from ``p0`` to ``p1``."""
    return trimesh.creation.cylinder(radius=r, segment=[p0, p1], sections=sections)


def post(
    x: float, y: float, size: float, z0: float, z1: float, rounded: bool
) -> trimesh.Trimesh:
    """Vertical leg/post: a cylinder of diameter ``size`` or a square box."""
    if rounded:
        return cyl(size / 2, z0, z1, x, y, sections=24)
    h = size / 2
    return aabb((x - h, y - h, z0), (x + h, y + h, z1))


def lathe(profile: Sequence[Vec], sections: int = 40) -> trimesh.Trimesh:
    """Revolve an (r, z) profile that starts and ends on the z axis."""
    pts = np.asarray(profile, dtype=np.float64)
    r, z = pts[:, 0], pts[:, 1]
    signed_area = np.dot(r, np.roll(z, -1)) - np.dot(z, np.roll(r, -1))
    if signed_area < 0:  # revolve needs a counter-clockwise loop for outward normals
        pts = pts[::-1]
    return trimesh.creation.revolve(pts, sections=sections)


@lru_cache(maxsize=4)
def _unit_sphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached (vertices, faces) of an icosphere, read-only."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    verts, faces = sphere.vertices.copy(), sphere.faces.copy()
    verts.setflags(write=False)
    faces.setflags(write=False)
    return verts, faces


def superquadric(
    radii: Vec, e1: float, e2: float, center: Vec = (0, 0, 0), subdivisions: int = 3
) -> trimesh.Trimesh:
    """Superellipsoid (e1: vertical, e2: horizontal squareness; 1 = ellipsoid).

    Icosphere points are scaled to an ellipsoid and projected radially onto the
    implicit surface, which preserves topology and winding.
    """
    unit, faces = _unit_sphere(subdivisions)
    a = np.abs(unit)
    f = (a[:, 0] ** (2 / e2) + a[:, 1] ** (2 / e2)) ** (e2 / e1) + a[:, 2] ** (2 / e1)
    verts = unit * np.asarray(radii, dtype=np.float64) * (f ** (-e1 / 2))[:, None]
    return trimesh.Trimesh(verts + np.asarray(center), faces.copy())


@lru_cache(maxsize=1)
def _sphere_points() -> np.ndarray:
    """Unit-sphere samples that include the six axis extremes (read-only)."""
    lat, lon = np.meshgrid(
        np.linspace(-np.pi / 2, np.pi / 2, 7), np.arange(12) * np.pi / 6
    )
    pts = np.column_stack(
        (np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat))
    ).reshape(-1, 3)
    pts = np.unique(np.round(pts, 12), axis=0)
    pts.setflags(write=False)
    return pts


def rounded_box(size: Vec, center: Vec, rounding: float) -> trimesh.Trimesh:
    """Box with rounded edges: convex hull of eight corner spheres.

    ``rounding`` is the corner radius as a fraction of the smallest half-size.
    Its faces are exactly planar, which keeps booleans with flush neighbours
    robust (flat-ish superquadric faces are not).
    """
    half = np.asarray(size, dtype=np.float64) / 2
    r = rounding * half.min()
    signs = np.array(
        [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    )
    pts = (signs[:, None, :] * (half - r) + r * _sphere_points()[None]).reshape(-1, 3)
    out = manifold3d.Manifold.hull_points(pts).to_mesh()
    mesh = trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], out.tri_verts)
    return mesh.apply_translation(center)


def extrude(polygon: np.ndarray, height: float, taper: float = 1.0) -> trimesh.Trimesh:
    """Extrude a counter-clockwise 2D polygon along +z (optionally tapering)."""
    section = manifold3d.CrossSection([np.asarray(polygon, dtype=np.float64)])
    out = section.extrude(height, scale_top=(taper, taper)).to_mesh()
    return trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], out.tri_verts)


def union(parts: Sequence[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Manifold union of overlapping solids."""
    return trimesh.boolean.union(list(parts), engine="manifold")


def difference(solid: trimesh.Trimesh, cutter: trimesh.Trimesh) -> trimesh.Trimesh:
    """Manifold difference ``solid - cutter``."""
    return trimesh.boolean.difference([solid, cutter], engine="manifold")


def rotated(parts: list[trimesh.Trimesh], matrix: np.ndarray) -> list[trimesh.Trimesh]:
    """Apply one rigid transform to every part (in place) and return them."""
    return [p.apply_transform(matrix) for p in parts]


def spin(angle: float) -> np.ndarray:
    """Rotation about +z through the origin."""
    return tf.rotation_matrix(angle, Z_AXIS)


def is_valid(mesh: trimesh.Trimesh) -> bool:
    """Single, watertight, positively oriented volume."""
    return (
        len(mesh.faces) > 0
        and bool(np.isfinite(mesh.vertices).all())
        and mesh.is_watertight
        and mesh.is_volume
        and mesh.body_count == 1
    )


def finalise(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Merge vertices, then rest on z = 0 and centre the x/y bounding box."""
    out = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float64), mesh.faces)
    lo, hi = out.bounds
    out.apply_translation((-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]))
    return out
