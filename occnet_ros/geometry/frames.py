"""World (metres, z up) <-> canonical unit box of the network, and back.

The canonical frame is gravity aligned: only a yaw about z is removed (from the principal
horizontal axis of the observed points), never roll or pitch, so "up" keeps its meaning for
the network. The observed points' bounding box is centred and scaled so its longest side
spans ``fill`` of the unit box, leaving room for the unobserved parts of the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNIT_BOX_HALF = 0.5  # the network's box is [-0.5, 0.5]^3
PADDING = 0.1  # queries and extraction cover [-0.55, 0.55]^3 (ONet's padding)
BOX_HALF = UNIT_BOX_HALF + PADDING / 2  # half side of the padded box: 0.55
MIN_EXTENT_M = 1e-3  # a cloud smaller than 1 mm in every direction cannot be reconstructed


class DegenerateCloudError(ValueError):
    """The point cloud cannot define a canonical frame (empty, non-finite or a single point)."""


def finite_points(points: np.ndarray) -> np.ndarray:
    """(N, 3) float array without rows holding NaN/inf; raises on a bad shape or nothing left."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise DegenerateCloudError(f"expected an (N, 3) point array, got shape {points.shape}")
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0:
        raise DegenerateCloudError("the point cloud has no finite points")
    return points


def principal_yaw(points: np.ndarray) -> float:
    """Angle in [-pi/2, pi/2) of the principal axis of the points' horizontal (x, y) spread."""
    xy = points[:, :2] - points[:, :2].mean(axis=0)
    cov = xy.T @ xy / max(len(xy), 1)
    eigvals, eigvecs = np.linalg.eigh(cov)
    axis = eigvecs[:, np.argmax(eigvals)]
    yaw = float(np.arctan2(axis[1], axis[0]))
    return (yaw + np.pi / 2) % np.pi - np.pi / 2


def yaw_matrix(yaw: float) -> np.ndarray:
    """3x3 rotation about z by yaw radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class CanonicalFrame:
    """p_canonical = R_z(-yaw) (p_world - center) / scale."""

    center: np.ndarray
    scale: float
    yaw: float = 0.0

    @classmethod
    def from_points(cls, points: np.ndarray, fill: float = 0.8, align_yaw: bool = True) -> CanonicalFrame:
        """The frame in which ``points`` are centred, yaw-aligned and span ``fill`` of the box."""
        if not 0.0 < fill <= 1.0:
            raise ValueError(f"fill must be in (0, 1], got {fill}")
        points = finite_points(points)
        yaw = principal_yaw(points) if align_yaw and len(points) >= 3 else 0.0
        local = points @ yaw_matrix(yaw)  # rows rotated by -yaw
        low, high = local.min(axis=0), local.max(axis=0)
        extent = float((high - low).max())
        if extent < MIN_EXTENT_M:
            raise DegenerateCloudError(
                f"the point cloud spans {extent * 1000:.3f} mm: too small to define an object"
            )
        center = yaw_matrix(yaw) @ ((low + high) / 2.0)
        return cls(center=center, scale=extent / fill, yaw=yaw)

    @property
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous canonical -> world transform (similarity)."""
        m = np.eye(4)
        m[:3, :3] = yaw_matrix(self.yaw) * self.scale
        m[:3, 3] = self.center
        return m

    def to_canonical(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.center) @ yaw_matrix(self.yaw) / self.scale

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) * self.scale @ yaw_matrix(self.yaw).T + self.center


def resample(points: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``count`` points: a random subset, or all points plus repeats when too few."""
    if len(points) >= count:
        return points[rng.choice(len(points), count, replace=False)]
    extra = rng.choice(len(points), count - len(points), replace=True)
    return np.concatenate([points, points[extra]])
