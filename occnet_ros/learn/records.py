"""Training records: one object's partial views, occupancy queries and surface samples.

A record is what the sensor would give (1-10 noisy depth views back-projected to points)
plus what supervision needs (occupancy of query points, surface samples for metrics), all in
the object's z-up frame in metres. Records are cached as .npz files so data generation runs
once and training can resume.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from occnet_ros.geometry.camera import HL2_LONG_THROW, Intrinsics, backproject, transform_points
from occnet_ros.geometry.raycast import raycasting_scene, render_depth, render_hits, sample_viewpoints
from occnet_ros.geometry.sensor import SensorModel
from occnet_ros.geometry.views import DepthView
from occnet_ros.learn.sampling import occupancy_queries, surface_samples
from occnet_ros.observe.frame import FrameSettings, clean_instance_points, erode_instances

SMALL_OBJECT_M = 0.5  # objects smaller than this stand on a table, not on the floor


@dataclass
class Record:
    """One object's training data; all points in metres in the object's frame (z up)."""

    views: list[np.ndarray]  # per view (N_i, 3)
    queries: np.ndarray  # (Q, 3)
    occupancies: np.ndarray  # (Q,) bool
    surface: np.ndarray  # (S, 3)
    n_near: int = 0  # queries[:n_near] are near-surface samples, the rest uniform in a cube
    name: str = ""
    origins: np.ndarray | None = None  # (V, 3) camera centre of each view (line-of-sight samples), if kept

    @property
    def uniform_queries(self) -> tuple[np.ndarray, np.ndarray]:
        """The uniformly drawn queries and their occupancy (for volumetric IoU)."""
        return self.queries[self.n_near :], self.occupancies[self.n_near :]

    def save(self, path: Path, compressed: bool = False) -> None:
        """Write atomically (temp file then rename) so an interrupted run leaves no half file."""
        offsets = np.cumsum([0] + [len(v) for v in self.views]).astype(np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
        os.close(fd)
        (np.savez_compressed if compressed else np.savez)(
            tmp,
            views=np.concatenate(self.views).astype(np.float16),
            view_offsets=offsets,
            queries=self.queries.astype(np.float16),
            occupancies=np.packbits(self.occupancies),
            n_queries=np.int64(len(self.queries)),
            n_near=np.int64(self.n_near),
            surface=self.surface.astype(np.float16),
            name=np.str_(self.name),
            **({} if self.origins is None else {"origins": np.asarray(self.origins, dtype=np.float32)}),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Record:
        with np.load(path) as data:
            offsets = data["view_offsets"]
            points = data["views"].astype(np.float32)
            views = [points[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
            n = int(data["n_queries"])
            return cls(
                views=views,
                queries=data["queries"].astype(np.float32),
                occupancies=np.unpackbits(data["occupancies"])[:n].astype(bool),
                surface=data["surface"].astype(np.float32),
                n_near=int(data["n_near"]),
                name=str(data["name"]),
                origins=data["origins"].astype(np.float32) if "origins" in data.files else None,
            )


@dataclass(frozen=True)
class RecordSpec:
    """How records are made from meshes (``data.record`` in a training config)."""

    views: int = 10
    queries: int = 24000
    near_fraction: float = 0.7
    sigma_fraction: float = 0.05
    surface_points: int = 20000
    max_points_per_view: int = 2048
    min_points_per_view: int = 30
    intrinsics: Intrinsics = HL2_LONG_THROW
    noise: SensorModel | None = SensorModel()  # the sensor's errors (geometry/sensor.py); None = exact depth
    support: bool = False  # render the table / floor the object stands on (mask bleed and edges then see it)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RecordSpec:
        """From a config mapping; ``noise`` is a sensor preset name, a mapping of sensor settings
        (optionally over a ``preset``) or null. An unknown key fails naming it."""
        known = {f.name for f in fields(cls)} - {"intrinsics"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown record settings {unknown}; known: {sorted(known)}")
        values = dict(values)
        if "noise" in values:
            values["noise"] = SensorModel.from_config(values["noise"])
        return cls(**values)


@dataclass
class View:
    """One simulated depth frame: z-depth image, camera-to-object pose, object-frame points."""

    depth: np.ndarray
    pose: np.ndarray
    points: np.ndarray
    mask: np.ndarray | None = None  # the object's (segmentation) mask, when more than the object was rendered
    true_pose: np.ndarray | None = None  # the pose the depth was rendered with, where ``pose`` has pose error

    def with_true_pose(self) -> View:
        """The view as a perfectly tracked headset would report it (pose and points), for studies."""
        if self.true_pose is None:
            return self
        correction = self.true_pose @ np.linalg.inv(self.pose)
        return View(self.depth, self.true_pose, transform_points(correction, self.points).astype(np.float32), self.mask)

    def depth_view(self, intrinsics: Intrinsics) -> DepthView:
        """The view as reconstruction takes it (without a mask only the object was rendered: its
        mask is wherever the ray returned)."""
        mask = np.isfinite(self.depth) if self.mask is None else self.mask
        return DepthView(np.nan_to_num(self.depth, nan=0.0).astype(np.float32), mask, intrinsics.k, self.pose)


def support_meshes(size: float, support: float) -> list[trimesh.Trimesh]:
    """The floor (top at z = 0) and, for an object lifted by ``support``, a table top under it."""
    floor = trimesh.creation.box([8.0, 8.0, 0.02])
    floor.apply_translation([0.0, 0.0, -0.01])
    if support <= 0:
        return [floor]
    side = max(1.0, 4.0 * size)
    table = trimesh.creation.box([side, side, 0.04])
    table.apply_translation([0.0, 0.0, support - 0.02])
    return [table, floor]


def object_window(geometry: np.ndarray, margin: int) -> np.ndarray:
    """(H, W) bool: the bounding box of the object's pixels (geometry id 0) grown by margin pixels."""
    window = np.zeros(geometry.shape, dtype=bool)
    rows, cols = np.nonzero(geometry == 0)
    if len(rows):
        window[max(0, rows.min() - margin):rows.max() + margin + 1, max(0, cols.min() - margin):cols.max() + margin + 1] = True
    return window


def node_points(depth: np.ndarray, intrinsics: Intrinsics, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points and mask the observation node would take from a masked frame: the mask's
    border eroded, then observe/frame.py's cleaning (pixel outliers, voxels, largest group).
    Without it, flying pixels and a mask bled onto the floor put points metres from the object."""
    settings = FrameSettings()
    if settings.mask_erosion_px:
        mask = erode_instances(mask.astype(np.uint8), settings.mask_erosion_px) > 0
    points, pixel = backproject(depth, intrinsics, mask)
    return clean_instance_points(points, pixel, depth.shape[1], settings), mask


def render_views(
    mesh: trimesh.Trimesh, rng: np.random.Generator, spec: RecordSpec, subsample: bool = True
) -> list[View]:
    """``spec.views`` noisy depth frames of the mesh as a headset wearer sees it.

    Small objects are lifted onto a virtual table so the viewing angle is realistic; poses and
    points are returned in the mesh's own frame, at most ``spec.max_points_per_view`` of them
    with ``subsample``. Views with too few points are redrawn (bounded). With ``spec.support``
    the table and floor are rendered too, and a view's points are its (perturbed) mask's as the
    observation node keeps them (``node_points``); a
    sensor with pose error reports each view's pose with that error (points and pose agree with
    each other, not with the truth).
    """
    size = float(np.ptp(mesh.bounds, axis=0).max())
    support = rng.uniform(0.4, 0.9) if size < SMALL_OBJECT_M else 0.0
    placed = mesh.copy()
    placed.apply_translation([0.0, 0.0, support])
    sensor = spec.noise
    masked = spec.support or (sensor is not None and sensor.masks_objects)
    scene = raycasting_scene([placed, *(support_meshes(size, support) if spec.support else [])])
    surface_seed = int(rng.integers(2**62)) if sensor is not None and sensor.dark_fraction > 0 else 0
    target = placed.bounds.mean(axis=0)
    lift = np.eye(4)
    lift[2, 3] = -support
    views: list[View] = []
    for _ in range(spec.views * 5):
        if len(views) == spec.views:
            break
        pose = sample_viewpoints(rng, 1, target, size)[0]
        hits = render_hits(scene, spec.intrinsics, pose) if sensor is not None and sensor.needs_hits else None
        depth, geometry = (hits.depth, hits.geometry) if hits is not None else render_depth(scene, spec.intrinsics, pose)
        if sensor is not None:
            depth = sensor.apply(depth, rng, hits, surface_seed, object_window(geometry, int(sensor.mask_error_px) + 2))
        mask = None
        if masked:
            mask = geometry == 0
            if sensor is not None:
                mask = sensor.perturb_mask(mask.astype(np.uint8), rng) > 0
            points, mask = node_points(depth, spec.intrinsics, mask)
        else:
            points, _ = backproject(depth, spec.intrinsics, mask)
        if len(points) < spec.min_points_per_view:
            continue
        if subsample and len(points) > spec.max_points_per_view:
            points = points[rng.choice(len(points), spec.max_points_per_view, replace=False)]
        reported = sensor.perturb_pose(pose, rng) if sensor is not None else pose
        object_pose = lift @ reported
        views.append(View(depth, object_pose, transform_points(object_pose, points).astype(np.float32), mask,
                          None if np.array_equal(reported, pose) else lift @ pose))
    if not views:
        raise RuntimeError("no camera saw enough of the object")
    return views


def partial_views(mesh: trimesh.Trimesh, rng: np.random.Generator, spec: RecordSpec) -> list[np.ndarray]:
    """Object-frame points of each rendered view, at most ``spec.max_points_per_view`` each."""
    return [view.points for view in render_views(mesh, rng, spec)]


def make_record(mesh: trimesh.Trimesh, rng: np.random.Generator, spec: RecordSpec, name: str = "") -> Record:
    """Render partial views and sample supervision for one watertight mesh."""
    queries, occ = occupancy_queries(mesh, spec.queries, rng, spec.near_fraction, spec.sigma_fraction)
    views = render_views(mesh, rng, spec)
    return Record(
        views=[view.points for view in views],
        origins=np.stack([view.pose[:3, 3] for view in views]).astype(np.float32),
        queries=queries,
        occupancies=occ,
        surface=surface_samples(mesh, spec.surface_points, rng),
        n_near=int(round(spec.queries * spec.near_fraction)),
        name=name,
    )
