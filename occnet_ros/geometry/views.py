"""Depth views of one object: the data evidence-aware reconstruction runs on, and its file.

A view is a depth image in metres (0 or NaN = no return), the object's mask, the pinhole K of
that image and the camera's pose in the world (camera optical frame: x right, y down, z forward;
world z up, metres). The views file (``occnet reconstruct VIEWS.npz``) is an .npz with exactly
these arrays, a format other tools write too:

- ``depth`` (V, H, W) float32 metres, 0 for no return
- ``mask`` (V, H, W) uint8, nonzero on the object
- ``K`` (3, 3) or (V, 3, 3)
- ``world_from_camera`` (V, 4, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIEW_KEYS = ("depth", "mask", "K", "world_from_camera")
RIGID_TOLERANCE = 1e-3
IDENTITY, LAST_ROW = np.eye(3), np.array([0.0, 0.0, 0.0, 1.0])
# Line-of-sight samples lie this far (canonical box units) in front of an observed point: beyond
# the ToF noise and TSDF band (about 0.03 at fill 0.8), up to half the box.
LINE_OF_SIGHT_OFFSETS = (0.03, 0.5)


class ViewError(ValueError):
    """A view (or views file) is malformed; the message names the field."""


@dataclass(frozen=True)
class DepthView:
    """One depth frame of one object, in metres, in a z-up world frame."""

    depth: np.ndarray  # (H, W) float32 metres; 0 or NaN = no return
    mask: np.ndarray  # (H, W) bool, True on the object
    k: np.ndarray  # (3, 3) pinhole intrinsics of this image
    world_from_camera: np.ndarray  # (4, 4) rigid: camera optical frame -> world

    def valid(self) -> np.ndarray:
        """Pixels of the mask with a return."""
        return self.mask & valid_depth(self.depth)

    def points(self) -> np.ndarray:
        """World points (N, 3), float64, of the mask's pixels with a return."""
        rows, cols = np.nonzero(self.valid())
        z = self.depth[rows, cols].astype(np.float64)
        camera = np.stack([(cols - self.k[0, 2]) / self.k[0, 0] * z, (rows - self.k[1, 2]) / self.k[1, 1] * z, z], axis=1)
        return camera @ self.world_from_camera[:3, :3].T + self.world_from_camera[:3, 3]


def camera_directions(points: np.ndarray, views: list[DepthView], tolerance: float = 0.001) -> np.ndarray:
    """Unit vectors (N, 3) from each world point towards the camera of the first view that saw it:
    whose mask holds the point's pixel and whose depth there is within ``tolerance`` (metres) of
    the point's; NaN rows for points no view saw (a cloud from elsewhere). A point another view
    only looks past lies behind that view's surface by more than a thin wall's thickness."""
    directions = np.full(points.shape, np.nan)
    for view in views:
        rotation, origin = view.world_from_camera[:3, :3], view.world_from_camera[:3, 3]
        camera = (points - origin) @ rotation
        with np.errstate(divide="ignore", invalid="ignore"):
            cols = np.rint(camera[:, 0] / camera[:, 2] * view.k[0, 0] + view.k[0, 2])
            rows = np.rint(camera[:, 1] / camera[:, 2] * view.k[1, 1] + view.k[1, 2])
        height, width = view.depth.shape
        inside = (camera[:, 2] > 0) & (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        found = np.flatnonzero(inside & np.isnan(directions[:, 0]))
        r, c = rows[found].astype(int), cols[found].astype(int)
        with np.errstate(invalid="ignore"):
            saw = view.valid()[r, c] & (np.abs(view.depth[r, c] - camera[found, 2]) <= tolerance)
        found = found[saw]
        towards = origin - points[found]
        directions[found] = towards / np.linalg.norm(towards, axis=1, keepdims=True)
    return directions


def valid_depth(depth: np.ndarray) -> np.ndarray:
    """Pixels with a finite, positive depth."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth) & (depth > 0)


def check_intrinsics(k: np.ndarray, name: str = "K") -> np.ndarray:
    """A finite, invertible pinhole K (positive focal lengths), as float64 (3, 3)."""
    k = np.asarray(k, dtype=np.float64)
    if k.shape != (3, 3):
        raise ViewError(f"{name} must be 3x3, got shape {k.shape}")
    if not np.isfinite(k).all():
        raise ViewError(f"{name} holds NaN or inf")
    if k[0, 0] <= 0 or k[1, 1] <= 0 or abs(np.linalg.det(k)) < 1e-12:
        raise ViewError(f"{name} is singular or has non-positive focal lengths (fx={k[0, 0]}, fy={k[1, 1]})")
    return k


def check_pose(pose: np.ndarray, name: str = "world_from_camera") -> np.ndarray:
    """A finite rigid 4x4 transform (orthonormal rotation, det +1, last row 0 0 0 1)."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (4, 4):
        raise ViewError(f"{name} must be 4x4, got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise ViewError(f"{name} holds NaN or inf")
    rotation = pose[:3, :3]
    # np.allclose's test (atol + its default rtol 1e-5), without its overhead: a view per instance per frame
    rigid = bool(np.all(np.abs(rotation @ rotation.T - IDENTITY) <= RIGID_TOLERANCE + 1e-5 * IDENTITY)) and np.linalg.det(rotation) > 0
    if not rigid or not bool(np.all(np.abs(pose[3] - LAST_ROW) <= RIGID_TOLERANCE + 1e-5 * LAST_ROW)):
        raise ViewError(f"{name} is not a rigid transform (rotation must be orthonormal with det +1)")
    return pose


def make_view(depth: np.ndarray, mask: np.ndarray, k: np.ndarray, world_from_camera: np.ndarray, name: str = "view") -> DepthView:
    """A validated view; negative depth is an error, NaN and 0 mean no return."""
    depth = np.asarray(depth)
    mask = np.asarray(mask)
    if depth.ndim != 2:
        raise ViewError(f"{name}: depth must be 2-D (H, W), got shape {depth.shape}")
    if mask.shape != depth.shape:
        raise ViewError(f"{name}: mask shape {mask.shape} does not match depth shape {depth.shape}")
    depth = depth.astype(np.float32)
    with np.errstate(invalid="ignore"):
        if (depth < 0).any():
            raise ViewError(f"{name}: depth holds negative values (metres, 0 for no return)")
    if np.isinf(depth).any():
        raise ViewError(f"{name}: depth holds inf")
    depth[np.isnan(depth)] = 0.0  # depth is astype's copy
    return DepthView(
        depth, mask.astype(bool), check_intrinsics(k, f"{name}: K"),
        check_pose(world_from_camera, f"{name}: world_from_camera"),
    )


def views_from_arrays(arrays: dict[str, np.ndarray]) -> list[DepthView]:
    """Views from the four arrays of a views file (see the module docstring)."""
    missing = [key for key in VIEW_KEYS if key not in arrays]
    if missing:
        raise ViewError(f"views file lacks {', '.join(missing)} (needs {', '.join(VIEW_KEYS)})")
    depth, mask, k, poses = (np.asarray(arrays[key]) for key in VIEW_KEYS)
    if depth.ndim != 3:
        raise ViewError(f"depth must be (V, H, W), got shape {depth.shape}")
    count = depth.shape[0]
    if count == 0:
        raise ViewError("depth holds no views")
    if mask.shape != depth.shape:
        raise ViewError(f"mask shape {mask.shape} does not match depth shape {depth.shape}")
    if k.shape == (3, 3):
        k = np.broadcast_to(k, (count, 3, 3))
    if k.shape != (count, 3, 3):
        raise ViewError(f"K must be (3, 3) or ({count}, 3, 3), got shape {k.shape}")
    if poses.shape != (count, 4, 4):
        raise ViewError(f"world_from_camera must be ({count}, 4, 4), got shape {poses.shape}")
    views = [make_view(depth[i], mask[i], k[i], poses[i], f"view {i}") for i in range(count)]
    if not any(view.valid().any() for view in views):
        raise ViewError("mask is empty: no view has an object pixel with a depth return")
    return views


def is_views_file(path: Path) -> bool:
    """An .npz holding a ``depth`` array (a views file, not a point cloud)."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "depth" in data.files
    except (OSError, ValueError):
        return False


def read_views(path: Path) -> list[DepthView]:
    """Views of a views file (.npz); errors name the file and the field."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise ViewError(f"{path}: not a readable .npz views file ({error})") from error
    try:
        return views_from_arrays(arrays)
    except ViewError as error:
        raise ViewError(f"{path}: {error}") from error


def write_views(path: Path, views: list[DepthView]) -> None:
    """Write views (of one image size) as a views file."""
    np.savez_compressed(
        path,
        depth=np.stack([v.depth for v in views]).astype(np.float32),
        mask=np.stack([v.mask for v in views]).astype(np.uint8),
        K=np.stack([v.k for v in views]).astype(np.float64),
        world_from_camera=np.stack([v.world_from_camera for v in views]).astype(np.float64),
    )


def line_of_sight_samples(
    points: np.ndarray, origins: np.ndarray, count: int, rng: np.random.Generator, offsets: tuple[float, float], box_half: float
) -> np.ndarray:
    """``count`` points of space the rays crossed: from a random observed point (N, 3) back
    towards its camera centre (N, 3) by a distance drawn from ``offsets``, kept inside the
    box |x| <= box_half (all in one frame, e.g. the canonical box). Empty (0, 3) when no
    crossed point falls in the box."""
    if count <= 0 or len(points) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    pick = rng.integers(0, len(points), 2 * count)
    surface, towards = points[pick], origins[pick] - points[pick]
    length = np.linalg.norm(towards, axis=1, keepdims=True)
    distance = np.minimum(rng.uniform(*offsets, size=(2 * count, 1)), 0.9 * length)
    samples = surface + towards / np.maximum(length, 1e-9) * distance
    inside = samples[(np.abs(samples) <= box_half).all(axis=1)]
    if len(inside) == 0:
        return np.zeros((0, 3), dtype=np.float32)
    keep = rng.choice(len(inside), count, replace=len(inside) < count)
    return inside[keep].astype(np.float32)
