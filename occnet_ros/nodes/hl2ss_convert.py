"""hl2ss_bridge's conversion core (pure: no rclpy): calibration + one hl2ss depth frame -> what the bridge publishes.

``output: pinhole``: 32FC1 z-depth metres resampled onto the undistorted pinhole grid (the
calibration's K and undistortion map), for the observation node's default camera model.
``output: radial``: 32FC1 radial metres on the sensor's own grid (no resampling; no depth scale
to agree on), with the ray table (32FC2 on depth/ray_table) for ``camera_model: ray_table``.
Both: AHAT's wrapped values and out-of-range depth become 0 (no return), wrapped ones counted.
Poses: hl2ss's row-vector rig pose in the y-up HoloLens world -> hl2_world <- rig (column
vectors); map <- hl2_world is the fixed MAP_FROM_HL2_WORLD, rig <- depth optical the extrinsics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occnet_ros.bridge.hl2ss_protocol import Calibration
from occnet_ros.geometry.camera import Intrinsics
from occnet_ros.geometry.hl2ss_frames import DeviceClock, rig_from_camera, world_from_rig
from occnet_ros.geometry.ray_table import PinholeResampler, RayTableCamera, RayTableError


@dataclass
class BridgeFrame:
    stamp_s: float
    image: np.ndarray  # (H, W) float32 metres: z on the pinhole grid, or radial on the sensor grid
    encoding: str
    world_from_rig: np.ndarray | None  # None: the device had no pose (tracking lost)


class Hl2ssConverter:
    def __init__(self, calibration: Calibration, output: str, clock: DeviceClock,
                 min_range: float = 0.1, max_range: float = 7.5) -> None:
        if not (np.isfinite(calibration.scale) and calibration.scale > 0):
            raise RayTableError(f"calibration depth scale must be positive units per metre, got {calibration.scale}")
        k_ok = np.isfinite(calibration.k).all() and calibration.k[0, 0] > 0
        self.camera = RayTableCamera(calibration.uv2xy, metres_per_unit=1.0 / calibration.scale, alias=calibration.alias,
                                     k_undistorted=calibration.k if k_ok else None,
                                     undistort_map=calibration.undistort_map if k_ok else None)
        self.rig_from_camera = rig_from_camera(calibration.extrinsics)
        self.output, self.clock = output, clock
        self.min_range, self.max_range = min_range, max_range
        self.resampler = PinholeResampler(self.camera) if output == "pinhole" else None
        self.wrapped_pixels = 0
        self.lost_poses = 0

    @property
    def intrinsics(self) -> Intrinsics:
        """K of the published image: the pinhole grid, or (radial) the table's fitted pinhole (size only)."""
        return self.resampler.intrinsics if self.resampler is not None else self.camera.pinhole()

    def convert(self, timestamp: int, depth: np.ndarray, pose: np.ndarray | None) -> BridgeFrame:
        """One frame; RayTableError (a ValueError) when the depth image does not fit the calibration."""
        radial, wrapped = self.camera.decode(np.asarray(depth), "16UC1", None, self.min_range, self.max_range)
        self.wrapped_pixels += wrapped
        rig = None
        if pose is not None:
            try:
                rig = world_from_rig(pose)
            except ValueError:
                self.lost_poses += 1
        stamp = self.clock.seconds(timestamp)
        if self.resampler is not None:
            z, _ = self.resampler.resample(radial)
            return BridgeFrame(stamp, np.nan_to_num(z, nan=0.0).astype(np.float32), "32FC1", rig)
        return BridgeFrame(stamp, np.nan_to_num(radial, nan=0.0).astype(np.float32), "32FC1", rig)
