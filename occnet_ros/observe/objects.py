"""Per-object multi-view store: cross-frame association, diverse view selection, retirement.

Instance ids of a 2D segmenter are not stable across frames, so views are associated with
world objects by class and 3D evidence: centroid distance (gated) and voxel overlap. One
frame's instances are matched jointly (Hungarian), so two instances never join one object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import numpy as np
from scipy.optimize import linear_sum_assignment

from occnet_ros.geometry.views import DepthView
from occnet_ros.observe.frame import InstanceView


@dataclass(frozen=True)
class StoreSettings:
    max_views_per_object: int = 10
    association_distance_m: float = 0.15
    association_min_overlap: float = 0.05
    association_voxel_m: float = 0.03
    retire_after_s: float = 120.0
    reconstruct_every_views: int = 2
    merge_overlap: float = 0.3


@dataclass
class TrackedObject:
    id: int
    class_name: str
    views: list[InstanceView] = field(default_factory=list)
    last_seen: float = 0.0
    views_since_request: int = 0
    views_seen: int = 0

    @property
    def points(self) -> np.ndarray:
        return np.concatenate([v.points for v in self.views]) if self.views else np.zeros((0, 3))

    @property
    def depth_views(self) -> list[DepthView]:
        """The depth crops of the kept views (one per view that has one), oldest first."""
        return [v.view for v in self.views if v.view is not None]

    @property
    def centroid(self) -> np.ndarray:
        return self.points.mean(axis=0)


def voxel_keys(points: np.ndarray, voxel: float) -> set[tuple[int, int, int]]:
    return set(map(tuple, np.floor(points / voxel).astype(np.int64)))


def voxel_iou(a: np.ndarray, b: np.ndarray, voxel: float) -> float:
    """Intersection over union of the voxels the two clouds occupy (packed int64 keys and
    sorted arrays: ~20x faster than sets of tuples, which cost most of a frame)."""
    if not len(a) or not len(b):
        return 0.0
    cells_a, cells_b = np.floor(a / voxel).astype(np.int64), np.floor(b / voxel).astype(np.int64)
    low = np.minimum(cells_a.min(axis=0), cells_b.min(axis=0))
    dims = np.maximum(cells_a.max(axis=0), cells_b.max(axis=0)) - low + 1
    if float(np.prod(dims.astype(np.float64))) >= 2.0**62:  # would overflow the packed key
        ka, kb = voxel_keys(a, voxel), voxel_keys(b, voxel)
        union = len(ka | kb)
        return len(ka & kb) / union if union else 0.0
    strides = np.array([dims[1] * dims[2], dims[2], 1], dtype=np.int64)
    ka, kb = np.unique((cells_a - low) @ strides), np.unique((cells_b - low) @ strides)
    common = len(np.intersect1d(ka, kb, assume_unique=True))
    return common / (len(ka) + len(kb) - common)


def view_direction(view: InstanceView, center: np.ndarray) -> np.ndarray:
    d = view.camera_position - center
    return d / max(np.linalg.norm(d), 1e-9)


def most_redundant(views: list[InstanceView], center: np.ndarray) -> int:
    """Index of the view whose viewing direction is closest to another view's (ties: oldest)."""
    dirs = np.stack([view_direction(v, center) for v in views])
    cos = dirs @ dirs.T
    np.fill_diagonal(cos, -np.inf)
    closest = cos.max(axis=1)
    best = np.flatnonzero(np.isclose(closest, closest.max()))
    return int(min(best, key=lambda i: views[i].stamp))


class ObjectStore:
    """World objects built from instance views."""

    def __init__(self, settings: StoreSettings = StoreSettings()) -> None:
        self.settings = settings
        self.objects: dict[int, TrackedObject] = {}
        self._ids = count(1)

    def similarity(self, view: InstanceView, obj: TrackedObject) -> float:
        """> 0 when the view may belong to the object (higher = better), else 0."""
        if view.class_name != obj.class_name:
            return 0.0
        distance = float(np.linalg.norm(view.points.mean(axis=0) - obj.centroid))
        overlap = voxel_iou(view.points, obj.points, self.settings.association_voxel_m)
        gate = self.gate(view, obj)
        if distance > gate and overlap < self.settings.association_min_overlap:
            return 0.0
        return overlap + max(0.0, 1.0 - distance / gate) * 0.5 + 1e-3

    def gate(self, view: InstanceView, obj: TrackedObject) -> float:
        """Centroid gate: association_distance_m, widened to half the object's size for large
        objects (a chair seen from the front and from the back has centroids ~0.3 m apart)."""
        extent = max(float(np.ptp(view.points, axis=0).max()), float(np.ptp(obj.points, axis=0).max()))
        return max(self.settings.association_distance_m, 0.5 * extent)

    def add_frame(self, views: list[InstanceView]) -> tuple[list[int], list[int]]:
        """Associate one frame's views; returns (ids updated or created, ids merged away)."""
        objects = list(self.objects.values())
        score = np.array([[self.similarity(v, o) for o in objects] for v in views]).reshape(len(views), len(objects))
        assigned: dict[int, TrackedObject] = {}
        if score.size:
            rows, cols = linear_sum_assignment(-score)
            assigned = {r: objects[c] for r, c in zip(rows, cols) if score[r, c] > 0}
        touched = []
        for index, view in enumerate(views):
            obj = assigned.get(index)
            if obj is None:
                obj = TrackedObject(next(self._ids), view.class_name)
                self.objects[obj.id] = obj
            self._add_view(obj, view)
            touched.append(obj.id)
        merged = self._merge_overlapping(touched)
        return [i for i in touched if i in self.objects], merged

    def _add_view(self, obj: TrackedObject, view: InstanceView) -> None:
        obj.views.append(view)
        obj.last_seen = max(obj.last_seen, view.stamp)
        obj.views_since_request += 1
        obj.views_seen += 1
        if len(obj.views) > self.settings.max_views_per_object:
            obj.views.pop(most_redundant(obj.views, obj.centroid))

    def _merge_overlapping(self, touched: list[int]) -> list[int]:
        """Merge same-class objects that turned out to be one (large voxel overlap)."""
        merged = []
        for obj_id in touched:
            obj = self.objects.get(obj_id)
            if obj is None:
                continue
            for other in list(self.objects.values()):
                if other.id == obj.id or other.class_name != obj.class_name:
                    continue
                if voxel_iou(obj.points, other.points, self.settings.association_voxel_m) >= self.settings.merge_overlap:
                    keep, drop = (obj, other) if obj.id < other.id else (other, obj)
                    for view in drop.views:
                        self._add_view(keep, view)
                    del self.objects[drop.id]
                    merged.append(drop.id)
                    if drop is obj:
                        break
        return merged

    def due_for_reconstruction(self, obj_id: int) -> bool:
        """True (and resets the counter) when the object gained enough new views."""
        obj = self.objects[obj_id]
        if obj.views_since_request >= self.settings.reconstruct_every_views:
            obj.views_since_request = 0
            return True
        return False

    def retire(self, now: float) -> list[int]:
        """Remove objects unseen for retire_after_s; returns their ids."""
        if self.settings.retire_after_s <= 0:
            return []
        old = [i for i, o in self.objects.items() if now - o.last_seen > self.settings.retire_after_s]
        for i in old:
            del self.objects[i]
        return old

    def forget(self, obj_id: int) -> bool:
        return self.objects.pop(obj_id, None) is not None

    def reset(self) -> list[int]:
        ids = list(self.objects)
        self.objects.clear()
        return ids
