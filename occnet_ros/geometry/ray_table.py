"""Per-pixel ray-table cameras (HoloLens 2 Research Mode depth, as hl2ss reports it).

A ray table gives, for every pixel (u, v) of the depth image, the point (x, y) where that
pixel's ray meets the camera's unit plane z = 1 (optical frame: x right, y down, z forward).
Any lens, however distorted, is described exactly; hl2ss calls this table ``uv2xy`` and
downloads it from the device with the stream's calibration.

HoloLens 2 depth is *radial*: the distance along the ray, in raw units of ``1 / scale``
metres (hl2ss's ``scale`` is units per metre). A pixel with radial distance r lies at
``r * (x, y, 1) / |(x, y, 1)|``. AHAT depth wraps (phase aliasing) at the calibration's
``alias`` value: raw values at or beyond it are not distances and are dropped (counted).

The evidence stage projects world points into views with a pinhole K. A ray-table frame is
therefore converted, for its views, into an equivalent undistorted pinhole z-depth image
(``PinholeResampler``): projecting through a pinhole approximation of a distorted lens instead
would put TSDF samples several pixels (centimetres at 2 m) off near the image border.

Pure numpy (scipy's map_coordinates to invert a table that comes without an undistortion map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from occnet_ros.geometry.camera import Intrinsics

TABLE_KEYS = ("uv2xy", "xy", "ray_table")


class RayTableError(ValueError):
    """A ray table, its depth scale or a depth frame does not fit; the message says how."""


def check_table(xy: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A finite (H, W, 2) float32 unit-plane table; (2, H, W) is accepted and transposed."""
    xy = np.asarray(xy)
    if xy.ndim == 3 and xy.shape[0] == 2 and xy.shape[-1] != 2:
        xy = np.moveaxis(xy, 0, -1)
    if xy.ndim != 3 or xy.shape[-1] != 2:
        raise RayTableError(f"ray table must be (H, W, 2) unit-plane x, y per pixel, got shape {xy.shape}")
    if size is not None and xy.shape[:2] != (size[1], size[0]):
        raise RayTableError(f"ray table is {xy.shape[1]}x{xy.shape[0]} but the depth image is {size[0]}x{size[1]}")
    bad = int((~np.isfinite(xy)).any(axis=-1).sum())
    if bad:
        raise RayTableError(f"ray table has {bad} pixel(s) with NaN or infinite rays")
    return xy.astype(np.float32)


def check_scale(metres_per_unit: float) -> float:
    if not (np.isfinite(metres_per_unit) and metres_per_unit > 0):
        raise RayTableError(f"depth scale must be a positive number of metres per unit, got {metres_per_unit}")
    return float(metres_per_unit)


@dataclass
class RayTableCamera:
    """A camera given by its per-pixel unit-plane table; depth along each ray (radial)."""

    xy: np.ndarray  # (H, W, 2) float32
    metres_per_unit: float = 0.001  # raw 16UC1 unit; 32FC1 input is metres already
    alias: float = 0.0  # raw values >= alias are wrapped (AHAT); 0 = no wrap
    k_undistorted: np.ndarray | None = None  # (3, 3) pinhole K of the resampled views, when known
    undistort_map: np.ndarray | None = None  # (H', W', 2) source pixel (u, v) per pinhole pixel
    unit_rays: np.ndarray = field(init=False, repr=False)  # (H*W, 3) unit-length rays
    _resampler: PinholeResampler | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.xy = check_table(self.xy)
        self.metres_per_unit = check_scale(self.metres_per_unit)
        if not np.isfinite(self.alias) or self.alias < 0:
            raise RayTableError(f"depth wrap (alias) must be >= 0, got {self.alias}")
        xy1 = np.concatenate([self.xy, np.ones(self.xy.shape[:2] + (1,), np.float32)], axis=-1).reshape(-1, 3)
        self.unit_rays = (xy1 / np.linalg.norm(xy1, axis=1, keepdims=True)).astype(np.float32)

    @property
    def width(self) -> int:
        return self.xy.shape[1]

    @property
    def height(self) -> int:
        return self.xy.shape[0]

    def norm(self) -> np.ndarray:
        """(H, W) |(x, y, 1)|: radial distance / z-depth of every pixel."""
        return np.sqrt(1.0 + (self.xy.astype(np.float64) ** 2).sum(axis=-1))

    def decode(self, raw: np.ndarray, encoding: str, depth_scale: float | None = None,
               min_range: float = 0.1, max_range: float = 5.0) -> tuple[np.ndarray, int]:
        """Raw radial depth -> (radial metres (H, W) float32, NaN where invalid; wrapped pixel count).

        16UC1/mono16 are raw units (``depth_scale`` or the table's scale); 32FC1 is metres.
        Raw values at or beyond ``alias`` (AHAT's wrap) are invalid and counted.
        """
        if raw.shape != (self.height, self.width):
            raise RayTableError(f"depth image is {raw.shape[1]}x{raw.shape[0]} but the ray table is {self.width}x{self.height}")
        if encoding in ("16UC1", "mono16"):
            scale = check_scale(self.metres_per_unit if depth_scale is None else depth_scale)
        elif encoding == "32FC1":
            scale = 1.0 if depth_scale is None else check_scale(depth_scale)
        else:
            raise RayTableError(f"unsupported depth encoding {encoding!r} for a ray-table camera; expected 16UC1, mono16 or 32FC1")
        values = raw.astype(np.float32)
        wrapped = np.zeros(raw.shape, bool)
        if self.alias > 0:
            with np.errstate(invalid="ignore"):
                wrapped = values >= self.alias
        radial = values * np.float32(scale)
        with np.errstate(invalid="ignore"):
            invalid = wrapped | ~np.isfinite(radial) | (radial < min_range) | (radial > max_range)
        radial[invalid] = np.nan
        return radial, int(wrapped.sum())

    def backproject(self, radial_m: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Radial metres (H, W) -> (optical-frame points (N, 3), flat pixel indices (N,)); like
        camera.backproject, NaN pixels and pixels outside ``mask`` are left out."""
        if radial_m.shape != (self.height, self.width):
            raise RayTableError(f"depth image is {radial_m.shape[1]}x{radial_m.shape[0]} but the ray table is {self.width}x{self.height}")
        valid = np.isfinite(radial_m)
        if mask is not None:
            if mask.shape != radial_m.shape:
                raise RayTableError(f"mask shape {mask.shape} differs from depth shape {radial_m.shape}")
            valid &= mask.astype(bool)
        index = np.flatnonzero(valid)
        points = np.take(self.unit_rays, index, axis=0)  # np.take: several times faster than fancy indexing here
        points *= np.take(radial_m.reshape(-1), index)[:, None]
        return points, index

    def z_depth(self, radial_m: np.ndarray) -> np.ndarray:
        """Radial metres -> z-depth metres on the same (distorted) pixel grid."""
        return (radial_m / self.norm()).astype(np.float32)

    def pinhole(self) -> Intrinsics:
        """The undistorted pinhole views are resampled onto (given K, or one fitted to the table)."""
        if self.k_undistorted is not None:
            k = np.asarray(self.k_undistorted, float)
            size = self.undistort_map.shape[:2][::-1] if self.undistort_map is not None else (self.width, self.height)
            return Intrinsics.from_k(size[0], size[1], k)
        return fit_pinhole(self.xy)

    def resampler(self) -> PinholeResampler:
        """The PinholeResampler of this camera, built once (inverting a table takes tens of ms)."""
        if self._resampler is None:
            self._resampler = PinholeResampler(self)
        return self._resampler


def fit_pinhole(xy: np.ndarray) -> Intrinsics:
    """Least-squares pinhole (fx, cx from u = fx x + cx; fy, cy likewise) of a table's central half:
    the focal length the lens has near its axis, on an image of the table's size."""
    h, w = xy.shape[:2]
    rows, cols = slice(h // 4, h - h // 4), slice(w // 4, w - w // 4)
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    fx, cx = np.polyfit(xy[rows, cols, 0].ravel(), u[rows, cols].ravel(), 1)
    fy, cy = np.polyfit(xy[rows, cols, 1].ravel(), v[rows, cols].ravel(), 1)
    return Intrinsics(w, h, float(fx), float(fy), float(cx), float(cy))


class PinholeResampler:
    """Radial depth + instance ids on the distorted grid -> z-depth + ids on an undistorted pinhole grid.

    Nearest-neighbour lookup (ids and depth edges stay sharp) through a per-pinhole-pixel source
    map: hl2ss's ``undistort_map`` when the table came with one, else the table inverted once.
    """

    def __init__(self, camera: RayTableCamera) -> None:
        self.camera = camera
        self.intrinsics = camera.pinhole()
        source = camera.undistort_map if camera.undistort_map is not None else invert_table(camera.xy, self.intrinsics)
        u = np.rint(source[..., 0]).astype(np.int64)
        v = np.rint(source[..., 1]).astype(np.int64)
        inside = np.isfinite(source).all(axis=-1) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
        self.inside = inside
        self.flat = np.where(inside, v.clip(0, camera.height - 1) * camera.width + u.clip(0, camera.width - 1), 0)

    def resample(self, radial_m: np.ndarray, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(z-depth (H', W') float32 NaN = none, ids (H', W') or None) on the pinhole grid.

        z is the source pixel's own point's z, so every depth value is a measured point.
        """
        z = self.camera.z_depth(radial_m).reshape(-1)[self.flat]
        z[~self.inside] = np.nan
        out_ids = None
        if ids is not None:
            out_ids = ids.reshape(-1)[self.flat]
            out_ids[~self.inside] = 0
        return z, out_ids


def invert_table(xy: np.ndarray, intrinsics: Intrinsics, iterations: int = 12) -> np.ndarray:
    """(H', W', 2) source pixel (u, v) of every pixel of the pinhole ``intrinsics``, NaN outside the table.

    Newton's method on the bilinearly interpolated table (its Jacobian from finite differences),
    started at the fitted pinhole's inverse: a few milliseconds per iteration, vectorised.
    """
    from scipy.ndimage import map_coordinates

    h, w = xy.shape[:2]
    table = xy.astype(np.float64)
    d_du = np.gradient(table, axis=1)
    d_dv = np.gradient(table, axis=0)
    guess = fit_pinhole(xy)
    pu, pv = np.meshgrid(np.arange(intrinsics.width, dtype=np.float64), np.arange(intrinsics.height, dtype=np.float64))
    target = np.stack([(pu - intrinsics.cx) / intrinsics.fx, (pv - intrinsics.cy) / intrinsics.fy], axis=-1).reshape(-1, 2)
    u = target[:, 0] * guess.fx + guess.cx
    v = target[:, 1] * guess.fy + guess.cy

    def sample(field: np.ndarray) -> np.ndarray:
        coords = [v.clip(0, h - 1), u.clip(0, w - 1)]
        return np.stack([map_coordinates(field[..., c], coords, order=1) for c in range(2)], axis=1)

    for _ in range(iterations):
        residual = sample(table) - target
        a, c = sample(d_du).T  # d(x, y)/du
        b, d = sample(d_dv).T  # d(x, y)/dv
        det = a * d - b * c
        with np.errstate(divide="ignore", invalid="ignore"):
            u = u - (d * residual[:, 0] - b * residual[:, 1]) / det
            v = v - (-c * residual[:, 0] + a * residual[:, 1]) / det
        u, v = np.nan_to_num(u, nan=-1e6), np.nan_to_num(v, nan=-1e6)
    converged = np.linalg.norm(sample(table) - target, axis=1) < 1e-4
    inside = converged & (u >= -0.5) & (u <= w - 0.5) & (v >= -0.5) & (v <= h - 0.5)
    source = np.stack([u, v], axis=1)
    source[~inside] = np.nan
    return source.reshape(intrinsics.height, intrinsics.width, 2)


def load_ray_table(path: str | Path, size: tuple[int, int] | None = None) -> RayTableCamera:
    """A RayTableCamera from an .npy ((H, W, 2) table) or an .npz holding the table as ``uv2xy``
    (or ``xy`` / ``ray_table``) and optionally ``scale`` (hl2ss: units per metre), ``alias``
    (AHAT wrap, raw units), ``K`` (3, 3) + ``undistort_map`` (H', W', 2): hl2ss's calibration fields."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise RayTableError(f"ray table file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise RayTableError(f"cannot read ray table file {path}: {error}") from error
    if isinstance(data, np.ndarray):
        return RayTableCamera(check_table(data, size))
    with data:
        key = next((k for k in TABLE_KEYS if k in data.files), None)
        if key is None:
            raise RayTableError(f"{path} holds none of {TABLE_KEYS} (found {data.files})")
        kwargs = {}
        if "scale" in data.files:
            scale = float(np.asarray(data["scale"]).reshape(-1)[0])
            if not (np.isfinite(scale) and scale > 0):
                raise RayTableError(f"{path}: depth scale must be positive units per metre, got {scale}")
            kwargs["metres_per_unit"] = 1.0 / scale
        if "alias" in data.files:
            kwargs["alias"] = float(np.asarray(data["alias"]).reshape(-1)[0])
        if "K" in data.files:
            kwargs["k_undistorted"] = np.asarray(data["K"], float).reshape(3, 3)
            if "undistort_map" in data.files:
                kwargs["undistort_map"] = np.asarray(data["undistort_map"], np.float32)
        return RayTableCamera(check_table(data[key], size), **kwargs)


def save_ray_table(path: str | Path, camera: RayTableCamera) -> Path:
    """Write ``camera`` as an .npz that load_ray_table reads (hl2ss's field names)."""
    path = Path(path).expanduser()
    arrays = {"uv2xy": camera.xy, "scale": np.float32(1.0 / camera.metres_per_unit), "alias": np.float32(camera.alias)}
    if camera.k_undistorted is not None:
        arrays["K"] = np.asarray(camera.k_undistorted, np.float64)
        if camera.undistort_map is not None:
            arrays["undistort_map"] = camera.undistort_map
    np.savez(path, **arrays)
    return path


def distorted_table(intrinsics: Intrinsics, k1: float, k2: float = 0.0) -> np.ndarray:
    """A non-pinhole table: pixel -> distorted normalised (xd, yd) -> undistorted unit plane
    x = xd (1 + k1 r^2 + k2 r^4), r = |xd| (radial distortion, barrel for k1 > 0)."""
    u, v = np.meshgrid(np.arange(intrinsics.width, dtype=np.float64), np.arange(intrinsics.height, dtype=np.float64))
    xd, yd = (u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy
    r2 = xd * xd + yd * yd
    factor = 1.0 + k1 * r2 + k2 * r2 * r2
    return np.stack([xd * factor, yd * factor], axis=-1).astype(np.float32)
