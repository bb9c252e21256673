"""Pinhole cameras, depth decoding and vectorised back-projection.

Optical frame convention (REP-103 camera optical frame): x right, y down, z forward.
Lens distortion (CameraInfo plumb_bob D) is ignored: a pinhole camera here is undistorted. HoloLens 2
depth as hl2ss streams it (radial distance, a distorted lens) goes through geometry/ray_table.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image of width x height pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_k(cls, width: int, height: int, k: np.ndarray | list[float]) -> Intrinsics:
        """From a row-major 3x3 K (CameraInfo.k)."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        intr = cls(int(width), int(height), float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))
        intr.validate()
        return intr

    def validate(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not (np.isfinite([self.fx, self.fy]).all() and self.fx > 0 and self.fy > 0):
            raise ValueError(f"invalid focal lengths fx={self.fx}, fy={self.fy}")
        if not np.isfinite([self.cx, self.cy]).all():
            raise ValueError(f"invalid principal point cx={self.cx}, cy={self.cy}")

    @property
    def k(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


# HoloLens 2 Research Mode depth cameras (nominal values; a real device reports its own).
HL2_LONG_THROW = Intrinsics(320, 288, 200.0, 200.0, 160.0, 144.0)
HL2_AHAT = Intrinsics(512, 512, 217.0, 217.0, 256.0, 256.0)

DEPTH_ENCODINGS = {"16UC1": 0.001, "mono16": 0.001, "32FC1": 1.0}


def decode_depth(
    raw: np.ndarray,
    encoding: str,
    depth_scale: float | None = None,
    min_range: float = 0.1,
    max_range: float = 5.0,
) -> np.ndarray:
    """Raw depth image -> float32 metres, NaN where invalid (0, NaN, inf, out of range).

    16UC1 is millimetres and 32FC1 metres unless ``depth_scale`` (metres per unit) says otherwise.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"unsupported depth encoding {encoding!r}; expected one of {sorted(DEPTH_ENCODINGS)}")
    if raw.ndim != 2:
        raise ValueError(f"depth image must be 2-D, got shape {raw.shape}")
    scale = DEPTH_ENCODINGS[encoding] if depth_scale is None else depth_scale
    depth = raw.astype(np.float32) * np.float32(scale)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(depth) | (depth < min_range) | (depth > max_range)
    depth[invalid] = np.nan
    return depth


def pixel_rays(intrinsics: Intrinsics) -> np.ndarray:
    """(H, W, 3) rays with z = 1 through every pixel centre, in the optical frame."""
    u = (np.arange(intrinsics.width, dtype=np.float32) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(intrinsics.height, dtype=np.float32) - intrinsics.cy) / intrinsics.fy
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu, vv, np.ones_like(uu)], axis=-1)


def backproject(
    depth_m: np.ndarray, intrinsics: Intrinsics, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Depth (H, W) metres -> (points (N, 3) in the optical frame, flat pixel indices (N,)).

    Pixels with NaN depth, or outside ``mask`` when given, are left out. A camera that is not a
    pinhole (geometry/ray_table.py's RayTableCamera: radial depth along per-pixel rays) brings its
    own ``backproject(depth, mask)``, so callers such as observe/frame.py take either.
    """
    if not isinstance(intrinsics, Intrinsics):
        return intrinsics.backproject(depth_m, mask)
    if depth_m.shape != (intrinsics.height, intrinsics.width):
        raise ValueError(
            f"depth image is {depth_m.shape[1]}x{depth_m.shape[0]} but the camera is "
            f"{intrinsics.width}x{intrinsics.height}"
        )
    valid = np.isfinite(depth_m)
    if mask is not None:
        if mask.shape != depth_m.shape:
            raise ValueError(f"mask shape {mask.shape} differs from depth shape {depth_m.shape}")
        valid &= mask.astype(bool)
    index = np.flatnonzero(valid)
    z = depth_m.reshape(-1)[index]
    u = (index % intrinsics.width).astype(np.float32)
    v = (index // intrinsics.width).astype(np.float32)
    x = (u - intrinsics.cx) / intrinsics.fx * z
    y = (v - intrinsics.cy) / intrinsics.fy * z
    return np.stack([x, y, z], axis=1), index


def project(points_cam: np.ndarray, intrinsics: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Optical-frame points (N, 3) -> (integer pixel (u, v) (N, 2), in-image-and-in-front mask)."""
    z = points_cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.floor(points_cam[:, 0] / z * intrinsics.fx + intrinsics.cx + 0.5)
        v = np.floor(points_cam[:, 1] / z * intrinsics.fy + intrinsics.cy + 0.5)
    inside = (z > 0) & (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
    uv = np.zeros((len(points_cam), 2), dtype=np.int64)
    uv[inside] = np.stack([u[inside], v[inside]], axis=1).astype(np.int64)
    return uv, inside


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 homogeneous transform to (N, 3) points."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]
