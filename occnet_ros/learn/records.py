"""Training records: one object's partial views, occupancy queries and surface samples.

A record is what the sensor would give (1-10 noisy depth views back-projected to points)
plus what supervision needs (occupancy of query points, surface samples for metrics), all in
the object's z-up frame in metres. Records are cached as .npz files so data generation runs
once and training can resume.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from occnet_ros.geometry.camera import HL2_LONG_THROW, Intrinsics, backproject, transform_points
from occnet_ros.geometry.raycast import ToFNoise, raycasting_scene, render_depth, sample_viewpoints
from occnet_ros.geometry.views import DepthView
from occnet_ros.learn.sampling import occupancy_queries, surface_samples

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
    """How records are made from meshes."""

    views: int = 10
    queries: int = 24000
    near_fraction: float = 0.7
    sigma_fraction: float = 0.05
    surface_points: int = 20000
    max_points_per_view: int = 2048
    min_points_per_view: int = 30
    intrinsics: Intrinsics = HL2_LONG_THROW
    noise: ToFNoise | None = ToFNoise()


@dataclass
class View:
    """One simulated depth frame: z-depth image, camera-to-object pose, object-frame points."""

    depth: np.ndarray
    pose: np.ndarray
    points: np.ndarray

    def depth_view(self, intrinsics: Intrinsics) -> DepthView:
        """The view as reconstruction takes it (only the object is rendered: its mask is
        wherever the ray returned)."""
        return DepthView(np.nan_to_num(self.depth, nan=0.0).astype(np.float32), np.isfinite(self.depth),
                         intrinsics.k, self.pose)


def render_views(
    mesh: trimesh.Trimesh, rng: np.random.Generator, spec: RecordSpec, subsample: bool = True
) -> list[View]:
    """``spec.views`` noisy depth frames of the mesh as a headset wearer sees it.

    Small objects are lifted onto a virtual table so the viewing angle is realistic; poses and
    points are returned in the mesh's own frame, at most ``spec.max_points_per_view`` of them
    with ``subsample``. Views with too few points are redrawn (bounded).
    """
    size = float(np.ptp(mesh.bounds, axis=0).max())
    support = rng.uniform(0.4, 0.9) if size < SMALL_OBJECT_M else 0.0
    placed = mesh.copy()
    placed.apply_translation([0.0, 0.0, support])
    scene = raycasting_scene([placed])
    target = placed.bounds.mean(axis=0)
    lift = np.eye(4)
    lift[2, 3] = -support
    views: list[View] = []
    for _ in range(spec.views * 5):
        if len(views) == spec.views:
            break
        pose = sample_viewpoints(rng, 1, target, size)[0]
        depth, _ = render_depth(scene, spec.intrinsics, pose)
        if spec.noise is not None:
            depth = spec.noise.apply(depth, rng)
        points, _ = backproject(depth, spec.intrinsics)
        if len(points) < spec.min_points_per_view:
            continue
        if subsample and len(points) > spec.max_points_per_view:
            points = points[rng.choice(len(points), spec.max_points_per_view, replace=False)]
        object_pose = lift @ pose
        views.append(View(depth, object_pose, transform_points(object_pose, points).astype(np.float32)))
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
