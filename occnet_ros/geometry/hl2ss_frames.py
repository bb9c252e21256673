"""hl2ss's frames, poses and clocks -> this package's (REP-103 z-up world, column-vector matrices, ROS time).

- HoloLens world (hl2ss's pose reference): right-handed, x right, y up, z towards the user
  (backwards). REP-103 ``map``: x forward, y left, z up. ``MAP_FROM_HL2_WORLD`` rotates one into
  the other: map x = -hl z, map y = -hl x, map z = hl y (gravity stays down).
- hl2ss matrices act on row vectors (``p_world = p_rig @ pose``); ours act on column vectors, so
  world_from_rig = pose.T. The depth calibration's ``extrinsics`` maps rig points to camera points
  (row vectors): rig_from_camera = inv(extrinsics.T). The depth camera frame is already the
  optical convention (x right, y down, z forward: hl2ss's uv2xy is (u - cx) / fx, (v - cy) / fy).
- hl2ss timestamps count 100 ns ticks of the device clock. With the device's UTC offset (hl2ss
  reports it in ticks since 1601-01-01) they become Unix time; without it the bridge anchors the
  first frame to the host clock and keeps the device's spacing.
"""

from __future__ import annotations

import numpy as np

MAP_FROM_HL2_WORLD = np.array(
    [[0.0, 0.0, -1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
TICKS_PER_SECOND = 10_000_000
FILETIME_TO_UNIX_S = 11_644_473_600  # seconds from 1601-01-01 to 1970-01-01


def check_rigid(matrix: np.ndarray, name: str, tolerance: float = 1e-3) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError(f"{name} must be a finite 4x4 matrix, got shape {matrix.shape}")
    rotation = matrix[:3, :3]
    if not (np.allclose(rotation @ rotation.T, np.eye(3), atol=tolerance) and np.linalg.det(rotation) > 0
            and np.allclose(matrix[3], [0, 0, 0, 1], atol=tolerance)):
        raise ValueError(f"{name} is not a rigid transform")
    return matrix


def world_from_rig(hl2ss_pose: np.ndarray) -> np.ndarray:
    """hl2ss's rig pose (row-vector 4x4) -> HoloLens world <- rig, column vectors.

    An all-zero pose (hl2ss sends one when the headset has lost tracking) raises ValueError.
    """
    return check_rigid(np.asarray(hl2ss_pose, np.float64).T, "rig pose")


def rig_from_camera(hl2ss_extrinsics: np.ndarray) -> np.ndarray:
    """hl2ss's depth extrinsics (rig -> camera, row vectors) -> rig <- camera, column vectors."""
    return check_rigid(np.linalg.inv(np.asarray(hl2ss_extrinsics, np.float64).T), "depth extrinsics")


def hl2ss_pose_from(world_from_rig_matrix: np.ndarray) -> np.ndarray:
    """The inverse of world_from_rig: what hl2ss would send (float32, row vectors)."""
    return np.asarray(world_from_rig_matrix, np.float64).T.astype(np.float32)


def hl2ss_extrinsics_from(rig_from_camera_matrix: np.ndarray) -> np.ndarray:
    """The inverse of rig_from_camera (float32, row vectors)."""
    return np.linalg.inv(np.asarray(rig_from_camera_matrix, np.float64)).T.astype(np.float32)


def map_from_camera(hl2ss_pose: np.ndarray, hl2ss_extrinsics: np.ndarray) -> np.ndarray:
    """REP-103 map <- depth optical frame of one frame."""
    return MAP_FROM_HL2_WORLD @ world_from_rig(hl2ss_pose) @ rig_from_camera(hl2ss_extrinsics)


class DeviceClock:
    """Device ticks -> ROS time (seconds): by the device's UTC offset when known, else anchored."""

    def __init__(self, utc_offset_ticks: int = 0, host_now=None) -> None:
        self.utc_offset_ticks = int(utc_offset_ticks)
        self.host_now = host_now
        self.anchor: tuple[int, float] | None = None

    def seconds(self, ticks: int) -> float:
        if self.utc_offset_ticks:
            return (int(ticks) + self.utc_offset_ticks) / TICKS_PER_SECOND - FILETIME_TO_UNIX_S
        if self.anchor is None:
            self.anchor = (int(ticks), float(self.host_now()))
        return self.anchor[1] + (int(ticks) - self.anchor[0]) / TICKS_PER_SECOND


def split_seconds(seconds: float) -> tuple[int, int]:
    """(sec, nanosec) of a non-negative time in seconds, for builtin_interfaces/Time."""
    total = int(round(seconds * 1e9))
    return total // 1_000_000_000, total % 1_000_000_000
