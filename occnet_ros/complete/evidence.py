"""What the depth views say about space: truncated signed distance, its weight, known-free space.

Each view is a depth image (metres, 0 or NaN for no return), the object's mask, the pinhole K
and the camera's pose in the world (optical frame: x right, y down, z forward). A point is
projected into every view (projective TSDF, as in KinectFusion) and classified:

- mask pixel with a return: signed distance ``depth - z`` along the ray. Within the truncation
  band it adds a TSDF sample (positive in front of the surface); further in front the ray crossed
  the point, so it is free space seen by that view; behind the band nothing is known.
- pixel clearly outside the mask (``mask_margin_px`` away from it, so a mask that bleeds or
  erodes by a few pixels proves nothing): the ray went past the object, so the point is free up
  to where that ray returned (or along its whole length without a return): the silhouette.

A point counts as known free where the silhouette says so in one view, or ray crossing in at
least ``min_free_views`` views (ToF noise and flying pixels make one crossing weak evidence).
With ``pose_tolerance_m`` > 0, silhouettes spare points within that distance of a point some
view observed: a view whose pose is off by a few millimetres and half a degree (HoloLens 2 head
tracking) shifts its mask by about a centimetre at a metre, enough for one view's silhouette to
carve a thin wall away. Off by default: measured on sensor-true views (tools/pose_error_study.py,
docs/sensor_model.md) 1 cm saves such walls (a validation mug: F@1% 0.03 -> 0.35) but keeps the
prior's bulk next to small objects (foreign shapes: -0.013 on average).
Vectorised numpy on any point set: the reconstruction evaluates it at the extraction queries and
:func:`evidence_grid` on a regular grid over the object's region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from occnet_ros.geometry.views import DepthView, valid_depth
from occnet_ros.observe.frame import packed_voxels

MIN_Z_M = 0.05  # points closer than this to a camera (or behind it) are not seen by it


@dataclass(frozen=True)
class EvidenceSettings:
    truncation_fraction: float = 0.025  # TSDF band half-width, as a fraction of the object's size (tools/fusion_sweep.py)
    min_truncation_m: float = 0.006  # never thinner than a few ToF noise sigmas (1.5 mm + 1.5 mm/m); 8 mm measured, not kept
    mask_margin_px: int = 2  # silhouette carving ignores pixels this close to the mask
    min_free_views: int = 2  # ray-crossed space is free only where this many views agree
    pose_tolerance_m: float = 0.0  # silhouettes spare this neighbourhood of observed points; 0: off
    copies_fill_only: bool = False  # symmetric copies' TSDF and free space only where no real view observed (else as views)

    def truncation(self, object_size_m: float) -> float:
        return max(self.truncation_fraction * object_size_m, self.min_truncation_m)

    def validate(self) -> None:
        if self.truncation_fraction <= 0 or self.min_truncation_m <= 0:
            raise ValueError(f"truncation must be positive, got {self}")
        if self.mask_margin_px < 0 or self.min_free_views < 1 or not self.pose_tolerance_m >= 0:
            raise ValueError(f"invalid evidence settings {self}")


@dataclass
class Evidence:
    """Per point: fused TSDF in [-1, 1] (NaN where unobserved), its weight, and known-free."""

    tsdf: np.ndarray
    weight: np.ndarray
    free: np.ndarray  # bool
    truncation_m: float

    @property
    def observed(self) -> np.ndarray:
        return self.weight > 0


class _PreparedView:
    """A view's arrays ready for lookups: camera_from_world, flat depth, mask and outside band."""

    def __init__(self, view: DepthView, margin_px: int) -> None:
        camera_from_world = np.linalg.inv(view.world_from_camera)
        self.rotation = camera_from_world[:3, :3].astype(np.float32)
        self.translation = camera_from_world[:3, 3]
        self.k = np.asarray(view.k, dtype=np.float32)
        self.height, self.width = view.depth.shape
        mask = view.mask.astype(bool)
        near = ndimage.binary_dilation(mask, iterations=margin_px) if margin_px else mask
        self.depth = np.where(valid_depth(view.depth), view.depth, 0.0).astype(np.float32).ravel()
        # 0: unknown (mask band), 1: on the mask, 2: clearly outside the mask
        self.label = np.where(mask, 1, np.where(near, 0, 2)).astype(np.int8).ravel()

    def lookup(self, points: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices of the points this view sees, their z in the camera and their flat pixel;
        ``points`` are float32 offsets from ``origin`` (float64), so large world coordinates
        keep their precision. (Row by row: numpy's (N, 3) @ (3, 3) matmul is 15x slower here.)"""
        shift = (self.rotation.astype(np.float64) @ origin + self.translation).astype(np.float32)
        r = self.rotation
        x, y, z = (points[:, 0] * r[i, 0] + points[:, 1] * r[i, 1] + points[:, 2] * r[i, 2] + shift[i] for i in range(3))
        front = np.flatnonzero(z > MIN_Z_M)
        x, y, z = x[front], y[front], z[front]
        u = np.rint(self.k[0, 0] * x / z + self.k[0, 2])
        v = np.rint(self.k[1, 1] * y / z + self.k[1, 2])
        inside = (u >= 0) & (u < self.width) & (v >= 0) & (v < self.height)
        pixel = v[inside].astype(np.int64) * self.width + u[inside].astype(np.int64)
        return front[inside], z[inside], pixel


class EvidenceField:
    """The views' evidence, evaluated at any set of world points (prepared once per object)."""

    def __init__(self, views: list[DepthView], truncation_m: float, settings: EvidenceSettings = EvidenceSettings(),
                 copies: list[DepthView] = ()) -> None:
        """``copies``: views a symmetry made of ``views`` (mirrored, turned); they add free space and
        weight like the views, and with ``copies_fill_only`` their TSDF counts only where no real view has one."""
        settings.validate()
        if truncation_m <= 0:
            raise ValueError(f"truncation must be positive, got {truncation_m}")
        self.views = [_PreparedView(view, settings.mask_margin_px) for view in [*views, *copies]]
        self.real_views = len(views)
        self.truncation_m = float(truncation_m)
        self.settings = settings
        self.observed = observed_points_tree([*views, *copies], settings.pose_tolerance_m)

    def at(self, points: np.ndarray, origin: np.ndarray | None = None) -> Evidence:
        """Evidence at world points (N, 3); pass float32 offsets and a float64 ``origin`` for
        coordinates far from the world origin."""
        origin = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64)
        points = np.asarray(points, dtype=np.float32)
        n, trunc = len(points), np.float32(self.truncation_m)
        separate = self.settings.copies_fill_only and len(self.views) > self.real_views
        rows = 2 if separate else 1  # [real views, copies] kept apart, or all together
        tsdf_sum, weight = np.zeros((rows, n), dtype=np.float32), np.zeros((rows, n), dtype=np.float32)
        crossed = np.zeros((rows, n), dtype=np.int32)
        silhouette = np.zeros((rows, n), dtype=bool)
        for number, view in enumerate(self.views):
            row = int(separate and number >= self.real_views)
            index, z, pixel = view.lookup(points, origin)
            depth, label = view.depth[pixel], view.label[pixel]
            sdf = depth - z
            surface = (label == 1) & (depth > 0)
            band = surface & (np.abs(sdf) <= trunc)
            hit, sdf_band = index[band], sdf[band]
            # the weight tapers behind the surface so the band's back edge makes no step
            w = np.clip((sdf_band + trunc) / (0.5 * trunc), 0.0, 1.0)
            tsdf_sum[row, hit] += w * np.clip(sdf_band / trunc, -1.0, 1.0)
            weight[row, hit] += w
            crossed[row, index[surface & (sdf > trunc)]] += 1
            silhouette[row, index[(label == 2) & ((depth == 0) | (sdf > trunc))]] = True
        with np.errstate(invalid="ignore", divide="ignore"):
            tsdf = np.where(weight > 0, tsdf_sum / weight, np.nan)
        crossed_free = crossed >= self.settings.min_free_views
        if separate:  # the copies fill in where no real view observed: a symmetry a few millimetres off moves no seen surface
            real = weight[0] > 0
            crossed_free = crossed_free[0] | ((crossed.sum(axis=0) >= self.settings.min_free_views) & ~real)
            tsdf, weight, silhouette = np.where(real, tsdf[0], tsdf[1]), weight.sum(axis=0), silhouette[0] | (silhouette[1] & ~real)
        else:
            tsdf, weight, silhouette, crossed_free = tsdf[0], weight[0], silhouette[0], crossed_free[0]
        if self.observed is not None:
            self._spare_observed(silhouette & ~crossed_free, silhouette, points, origin)
        free = silhouette | crossed_free
        return Evidence(tsdf=tsdf, weight=weight, free=free, truncation_m=self.truncation_m)

    def _spare_observed(self, candidates: np.ndarray, silhouette: np.ndarray, points: np.ndarray, origin: np.ndarray) -> None:
        """Clear the silhouette's verdict at candidate points near an observed point (in place)."""
        index = np.flatnonzero(candidates)
        if len(index):
            distance, _ = self.observed.query(points[index].astype(np.float64) + origin,
                                              distance_upper_bound=self.settings.pose_tolerance_m)
            silhouette[index[np.isfinite(distance)]] = False


def observed_points_tree(views: list[DepthView], tolerance_m: float) -> cKDTree | None:
    """A k-d tree of the views' observed points, thinned to one per cell of a quarter of the
    tolerance (the neighbourhood test stays within that of exact); None when off or empty."""
    if tolerance_m <= 0 or not views:
        return None
    points = np.concatenate([view.points() for view in views])
    if not len(points):
        return None
    keys, _ = packed_voxels(points, 0.25 * tolerance_m)
    _, first = np.unique(keys, return_index=True)
    return cKDTree(points[first])


def points_evidence(
    points: np.ndarray, views: list[DepthView], truncation_m: float, settings: EvidenceSettings = EvidenceSettings()
) -> Evidence:
    """The evidence of ``views`` at world ``points`` (N, 3)."""
    points = np.asarray(points, dtype=np.float64)
    origin = points.mean(axis=0) if len(points) else np.zeros(3)
    return EvidenceField(views, truncation_m, settings).at(points - origin, origin)


def evidence_grid(
    views: list[DepthView], lower: np.ndarray, upper: np.ndarray, resolution: int, settings: EvidenceSettings = EvidenceSettings()
) -> tuple[Evidence, np.ndarray]:
    """Evidence at the (R+1)^3 vertices of a grid over [lower, upper] (world, axis aligned),
    reshaped to grids; and the vertex coordinates (R+1, R+1, R+1, 3)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    axes = [np.linspace(lower[i], upper[i], resolution + 1) for i in range(3)]
    vertices = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    size = float((upper - lower).max())
    evidence = points_evidence(vertices.reshape(-1, 3), views, settings.truncation(size), settings)
    shape = vertices.shape[:3]
    return Evidence(evidence.tsdf.reshape(shape), evidence.weight.reshape(shape), evidence.free.reshape(shape),
                    evidence.truncation_m), vertices
