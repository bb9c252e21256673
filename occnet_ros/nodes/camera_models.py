"""The observation node's camera model: CameraInfo pinhole (z-depth), or a per-pixel ray table (radial depth).

``camera_model: pinhole`` (default): depth is z-depth, K from ``depth/camera_info``.
``camera_model: ray_table``: depth is the distance along each pixel's ray (hl2ss, HoloLens 2), the
rays from ``ray_table_file`` (.npy / .npz, geometry/ray_table.py) or, when that is empty, from the
latched ``ray_table_topic`` (sensor_msgs/Image, 32FC2: unit-plane x, y per pixel; hl2ss_bridge and
the simulator's hl2ss cameras publish it). CameraInfo then only names the image size.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from occnet_ros.geometry.camera import Intrinsics, decode_depth
from occnet_ros.geometry.ray_table import RayTableCamera, RayTableError, load_ray_table
from occnet_ros.nodes import qos
from occnet_ros.nodes.conversions import intrinsics_from_camera_info

RAY_TABLE_ENCODING = "32FC2"


def ray_table_to_image(xy: np.ndarray, header: Header | None = None) -> Image:
    """A (H, W, 2) unit-plane table as a 32FC2 Image."""
    xy = np.ascontiguousarray(xy, dtype="<f4")
    msg = Image(height=xy.shape[0], width=xy.shape[1], encoding=RAY_TABLE_ENCODING, is_bigendian=False, step=xy.shape[1] * 8)
    msg.data = xy.tobytes()
    if header is not None:
        msg.header = header
    return msg


def image_to_ray_table(msg: Image) -> np.ndarray:
    """(H, W, 2) float32 of a 32FC2 Image; ValueError on another encoding or short data."""
    if msg.encoding != RAY_TABLE_ENCODING:
        raise RayTableError(f"ray table image must be {RAY_TABLE_ENCODING}, got {msg.encoding!r}")
    row = msg.width * 8
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise RayTableError(f"ray table image data is {len(msg.data)} bytes, {msg.width}x{msg.height} 32FC2 needs {row * msg.height}")
    dtype = np.dtype(">f4" if msg.is_bigendian else "<f4")
    rows = np.frombuffer(bytes(msg.data), np.uint8, count=msg.step * msg.height).reshape(msg.height, msg.step)[:, :row]
    return np.ascontiguousarray(rows).view(dtype).astype(np.float32).reshape(msg.height, msg.width, 2)


class CameraModel:
    """Per-frame (camera, depth in metres) from the depth and camera-info messages; counts what it drops."""

    def __init__(self, node, params: dict) -> None:
        self.node, self.params = node, params
        self.kind = params["camera_model"]
        self.ray_camera: RayTableCamera | None = None
        self.wrapped_pixels = 0
        if self.kind != "ray_table":
            return
        if params["ray_table_file"]:
            self.ray_camera = self._with_wrap(load_ray_table(params["ray_table_file"]))  # a bad file stops the node, named
            node.get_logger().info(f"ray table {self.ray_camera.width}x{self.ray_camera.height} from {params['ray_table_file']}")
        else:
            node.create_subscription(Image, params["ray_table_topic"], self.on_ray_table, qos.LATCHED)

    def _with_wrap(self, camera: RayTableCamera) -> RayTableCamera:
        if self.params["depth_wrap"] > 0:
            camera.alias = float(self.params["depth_wrap"])
        return camera

    def on_ray_table(self, msg: Image) -> None:
        try:
            self.ray_camera = self._with_wrap(RayTableCamera(image_to_ray_table(msg)))
        except RayTableError as error:
            self.node.skip("bad_ray_table", str(error))
            return
        self.node.get_logger().info(f"ray table {msg.width}x{msg.height} received on {self.params['ray_table_topic']}")

    @property
    def description(self) -> str:
        return "pinhole z-depth (CameraInfo)" if self.kind != "ray_table" else "radial depth through a per-pixel ray table"

    def frame(self, raw: np.ndarray, encoding: str, info: CameraInfo) -> tuple[Intrinsics | RayTableCamera, np.ndarray] | None:
        """(camera, depth metres with NaN = invalid), or None while no ray table has arrived."""
        p = self.params
        scale = p["depth_scale"] or None
        if self.kind != "ray_table":
            return intrinsics_from_camera_info(info), decode_depth(raw, encoding, scale, p["min_range_m"], p["max_range_m"])
        if self.ray_camera is None:
            return None
        depth, wrapped = self.ray_camera.decode(raw, encoding, scale, p["min_range_m"], p["max_range_m"])
        self.wrapped_pixels += wrapped
        return self.ray_camera, depth
