"""Seeded procedural generator of watertight indoor-object meshes.

Shapes are assembled from simple primitives (boxes, cylinders, superquadrics,
lathed profiles, extruded polygons) and merged with manifold booleans, so every
returned mesh is a single watertight volume.

Conventions: metres, z-up (REP-103), resting on z = 0, centred in x/y, with the
"front" of furniture facing -y.  The same ``numpy.random.Generator`` state always
yields the same mesh.
"""

from __future__ import annotations

import numpy as np
import trimesh

from occnet_ros.shapes.freeform import freeform_shape
from occnet_ros.shapes.furniture import chair, sofa, table
from occnet_ros.shapes.household import bottle, bowl, lamp, monitor, mug
from occnet_ros.shapes.primitives import BUILD_ERRORS, MAX_ATTEMPTS, Builder, finalise, is_valid
from occnet_ros.shapes.storage import cabinet, shelf

__all__ = ["CATEGORIES", "FREEFORM", "SPLIT_SEEDS", "make_shape", "make_shape_by_seed"]

CATEGORIES: tuple[str, ...] = (
    "chair",
    "table",
    "mug",
    "bottle",
    "cabinet",
    "lamp",
    "bowl",
    "monitor",
    "sofa",
    "shelf",
)
FREEFORM = "primitives"
# first seed of each split: train, val and test shapes never share a seed
SPLIT_SEEDS = {"train": 0, "val": 1_000_000, "test": 2_000_000}


# ---------------------------------------------------------------- public API

_BUILDERS: dict[str, Builder] = {
    "chair": chair,
    "table": table,
    "mug": mug,
    "bottle": bottle,
    "cabinet": cabinet,
    "lamp": lamp,
    "bowl": bowl,
    "monitor": monitor,
    "sofa": sofa,
    "shelf": shelf,
    FREEFORM: freeform_shape,
}


def make_shape(category: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Generate one watertight mesh of ``category`` (or ``FREEFORM``) from ``rng``.

    Raises ValueError for an unknown category and RuntimeError if no valid mesh
    came out of ``MAX_ATTEMPTS`` draws.
    """
    builder = _BUILDERS.get(category)
    if builder is None:
        valid = ", ".join((*CATEGORIES, FREEFORM))
        raise ValueError(f"unknown category {category!r}; valid categories: {valid}")
    error: Exception | None = None
    for _ in range(MAX_ATTEMPTS):
        try:
            mesh = finalise(builder(rng))
        except BUILD_ERRORS as exc:  # a failed boolean: redraw from the same rng
            error = exc
            continue
        if is_valid(mesh):
            return mesh
    raise RuntimeError(
        f"could not build a watertight {category!r} in {MAX_ATTEMPTS} attempts"
    ) from error


def make_shape_by_seed(category: str, seed: int) -> trimesh.Trimesh:
    """``make_shape`` with ``numpy.random.default_rng(seed)``."""
    return make_shape(category, np.random.default_rng(seed))
