"""What hl2ss delivers, simulated: radial uint16 depth through a distorted lens's per-pixel ray table.

The lens has radial distortion (barrel, k1 = 0.08: a corner pixel's ray is 9 % further out than
a pinhole's), so a pipeline that takes the depth as pinhole z-depth is centimetres off at the
border. Depth is the distance along each pixel's ray in 1 mm units (hl2ss's scale 1000); AHAT's
raw values wrap at ``alias`` (the simulator reports wrapped pixels at the alias value).
"""

from __future__ import annotations

import numpy as np

from occnet_ros.geometry.camera import HL2_AHAT, HL2_LONG_THROW
from occnet_ros.geometry.ray_table import RayTableCamera, distorted_table
from occnet_ros.geometry.raycast import RayHits, hits_from_rays

# camera -> (nominal pinhole of the sensor grid, k1, k2, alias in raw units (0 = none))
HL2SS_CAMERAS = {"hl2ss_long_throw": (HL2_LONG_THROW, 0.08, 0.01, 0.0), "hl2ss_ahat": (HL2_AHAT, 0.08, 0.01, 1056.0)}


def hl2ss_camera(name: str) -> RayTableCamera:
    """The simulated device's calibration: its ray table, 1 mm units and (AHAT) wrap."""
    intrinsics, k1, k2, alias = HL2SS_CAMERAS[name]
    return RayTableCamera(distorted_table(intrinsics, k1, k2), metres_per_unit=0.001, alias=alias)


def render_radial_hits(scene, camera: RayTableCamera, cam_to_world: np.ndarray) -> RayHits:
    """Noise-free radial distance (H, W) in metres along every pixel's ray (NaN = no hit), with the
    per-pixel geometry the sensor model needs."""
    directions = camera.unit_rays @ cam_to_world[:3, :3].T  # unit length: t_hit is the radial distance
    origins = np.broadcast_to(cam_to_world[:3, 3], directions.shape)
    rays = np.concatenate([origins, directions], axis=1).astype(np.float32).reshape(camera.height, camera.width, 6)
    h, w = camera.height // 2, camera.width // 2
    focal_px = 1.0 / max(float(camera.xy[h, w + 1, 0] - camera.xy[h, w, 0]), 1e-9)
    return hits_from_rays(scene, rays, np.ones((camera.height, camera.width), np.float32), focal_px)


def render_radial(scene, camera: RayTableCamera, cam_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free radial distance (H, W) in metres along every pixel's ray (NaN = no hit), and hit ids."""
    hits = render_radial_hits(scene, camera, cam_to_world)
    return hits.depth, hits.geometry
