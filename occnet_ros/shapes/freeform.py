"""The freeform family: random unions and cuts of primitives."""

from __future__ import annotations

import numpy as np
import trimesh
from trimesh import transformations as tf

from occnet_ros.shapes.primitives import BUILD_ERRORS, difference, extrude, is_valid, lathe, superquadric, uniform, union

# ---------------------------------------------------------------- free-form


def _random_primitive(rng: np.random.Generator, kinds: int = 5) -> trimesh.Trimesh:
    """Box, cylinder, superquadric, lathed solid or extrusion (unit scale).

    The result is centred on its bounding-box centre, which lies inside it, and
    randomly rotated.
    """
    kind = int(rng.integers(kinds))
    if kind == 0:
        mesh = trimesh.creation.box(extents=rng.uniform(0.2, 1.0, 3))
    elif kind == 1:
        mesh = trimesh.creation.cylinder(
            uniform(rng, 0.1, 0.5), uniform(rng, 0.2, 1.0), sections=32
        )
    elif kind == 2:
        radii = rng.uniform(0.1, 0.5, 3)
        mesh = superquadric(radii, uniform(rng, 0.25, 1.6), uniform(rng, 0.25, 1.6))
    elif kind == 3:
        n = int(rng.integers(3, 7))
        zs = np.sort(rng.uniform(0.0, 1.0, n)) * uniform(rng, 0.3, 1.0)
        rs = rng.uniform(0.1, 0.5, n)
        mesh = lathe([(0.0, zs[0]), *zip(rs, zs), (0.0, zs[-1])], sections=32)
    else:
        n = int(rng.integers(5, 10))
        ang = 2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n
        rad = uniform(rng, 0.2, 0.5) * rng.uniform(0.5, 1.0, n)
        poly = np.column_stack((rad * np.cos(ang), rad * np.sin(ang)))
        mesh = extrude(poly, uniform(rng, 0.1, 0.6), taper=uniform(rng, 0.5, 1.0))
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh.apply_transform(tf.random_rotation_matrix(rand=rng.random(3)))


def freeform_shape(rng: np.random.Generator) -> trimesh.Trimesh:
    """2-5 primitives, each centred on a surface vertex of an earlier one."""
    parts = [_random_primitive(rng)]
    for _ in range(int(rng.integers(1, 5))):
        anchor = parts[int(rng.integers(len(parts)))]
        vertex = anchor.vertices[int(rng.integers(len(anchor.vertices)))]
        parts.append(_random_primitive(rng).apply_translation(vertex))
    mesh = union(parts)
    if rng.random() < 0.4:
        mesh = _try_cut(rng, mesh)
    size = float(np.exp(rng.uniform(np.log(0.1), np.log(1.0))))
    return mesh.apply_scale(size / mesh.extents.max())


def _try_cut(rng: np.random.Generator, mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Subtract a small primitive at a surface vertex; keep it only if robust."""
    cutter = _random_primitive(rng, kinds=3)
    cutter.apply_scale(mesh.extents.min() * uniform(rng, 0.3, 0.6) / cutter.extents.max())
    cutter.apply_translation(mesh.vertices[int(rng.integers(len(mesh.vertices)))])
    try:
        cut = difference(mesh, cutter)
    except BUILD_ERRORS:
        return mesh
    return cut if is_valid(cut) and cut.volume > 0.5 * mesh.volume else mesh
