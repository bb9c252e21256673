"""Loader of the ONet-preprocessed ShapeNet layout (Mescheder et al.'s release).

Layout: ``ROOT/<class>/<model>/points.npz`` (``points`` (N, 3), ``occupancies`` bit-packed,
uniform in the padded unit box) and ``pointcloud.npz`` (``points`` (M, 3) surface samples),
with ``ROOT/<class>/{train,val,test}.lst`` listing model ids. ShapeNet is y-up and unit-size.
Partial views are made from the surface samples by hidden point removal from headset-like
viewpoints, with the same time-of-flight-like noise as rendered views.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from occnet_ros.geometry.raycast import sample_viewpoints
from occnet_ros.learn.records import Record, RecordSpec
from occnet_ros.learn.sources import Item

Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def read_model(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(queries, occupancies, surface) of one model, z-up; ValueError when files are bad."""
    try:
        with np.load(folder / "points.npz") as data:
            queries = data["points"].astype(np.float64)
            occupancies = np.unpackbits(data["occupancies"])[: len(queries)].astype(bool)
        with np.load(folder / "pointcloud.npz") as data:
            surface = data["points"].astype(np.float64)
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{folder}: not an ONet ShapeNet model ({error})") from error
    if len(occupancies) != len(queries):
        raise ValueError(f"{folder}: {len(occupancies)} occupancies for {len(queries)} points")
    return queries @ Y_UP_TO_Z_UP.T, occupancies, surface @ Y_UP_TO_Z_UP.T


def visible_points(surface: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """Indices of the surface samples visible from eye (open3d hidden point removal)."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(surface))
    diameter = float(np.linalg.norm(surface.max(axis=0) - surface.min(axis=0)))
    _, index = cloud.hidden_point_removal(eye, diameter * 100)
    return np.asarray(index, dtype=np.int64)


def record_from_model(folder: Path, rng: np.random.Generator, spec: RecordSpec, size_m: float, name: str) -> Record:
    """A Record in metres (object scaled to size_m, standing on z = 0) from one ONet model."""
    queries, occupancies, surface = read_model(folder)
    low, high = surface.min(axis=0), surface.max(axis=0)
    scale = size_m / float((high - low).max())
    shift = -np.array([(low[0] + high[0]) / 2, (low[1] + high[1]) / 2, low[2]])
    queries, surface = (queries + shift) * scale, (surface + shift) * scale
    target = np.array([0.0, 0.0, (high[2] - low[2]) * scale / 2])
    views = []
    for pose in sample_viewpoints(rng, spec.views, target, size_m, height_range=(target[2] + 0.4, target[2] + 0.9)):
        eye = pose[:3, 3]
        seen = surface[visible_points(surface, eye)]
        seen = seen[rng.random(len(seen)) >= (spec.noise.dropout if spec.noise else 0.0)]
        if spec.noise is not None:
            rays = seen - eye
            distance = np.linalg.norm(rays, axis=1, keepdims=True)
            sigma = spec.noise.sigma_base_m + spec.noise.sigma_per_m * distance
            seen = seen + rays / distance * rng.normal(size=distance.shape) * sigma
        if len(seen) > spec.max_points_per_view:
            seen = seen[rng.choice(len(seen), spec.max_points_per_view, replace=False)]
        if len(seen) >= spec.min_points_per_view:
            views.append(seen.astype(np.float32))
    if not views:
        raise RuntimeError(f"{folder}: no view saw enough points")
    pick = rng.choice(len(queries), min(spec.queries, len(queries)), replace=False)
    surface_pick = rng.choice(len(surface), min(spec.surface_points, len(surface)), replace=False)
    return Record(views, queries[pick].astype(np.float32), occupancies[pick], surface[surface_pick].astype(np.float32),
                  n_near=0, name=name)


def shapenet_items(split: str, root: Path, classes: list[str] | None = None, size_m: float = 0.5) -> list[Item]:
    """Items of a split from ``<class>/<split>.lst`` files (all classes found when None)."""
    if not root.is_dir():
        raise FileNotFoundError(f"ShapeNet root not found: {root}")
    classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
    items = []
    for cls in classes:
        listing = root / cls / f"{split}.lst"
        if not listing.exists():
            continue
        for model in [line.strip() for line in listing.read_text().splitlines() if line.strip()]:
            name = f"shapenet-{cls}-{model}"

            def make(rng, spec, folder=root / cls / model, name=name):
                return record_from_model(folder, rng, spec, size_m, name)

            items.append(Item(name, make))
    return items
