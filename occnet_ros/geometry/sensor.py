"""The depth sensor's errors, one model for the training renderer and the HoloLens 2 simulator.

``SensorModel`` turns a noise-free raycast (geometry/raycast.py ``RayHits``) into what a
time-of-flight camera returns, and says how the rest of the pipeline's inputs go wrong:

- depth-dependent Gaussian noise, sigma = ``sigma_base_m + sigma_per_m * depth``;
- random invalid pixels (``dropout``);
- flying (mixed) pixels at depth edges: a depth between the two sides of the edge;
- dropouts on grazing surfaces: the return falls with the cosine of the incidence angle, so the
  chance of an invalid pixel rises from ``grazing_start_deg`` to ``grazing_dropout`` at 90 deg;
- dropouts on dark surfaces: a ``dark_fraction`` of the surfaces (whole objects, or patches of
  ``dark_patch_m``) return too little light, ``dark_dropout`` of their pixels are invalid;
- multipath in concave corners: light that bounced off a neighbouring surface arrives late, a
  positive range bias of up to ``multipath_m`` where the neighbourhood (``multipath_radius_m``)
  rises in front of the pixel's tangent plane (a flat wall gets none);
- a segmentation mask that bleeds or erodes by 1..``mask_error_px`` pixels per instance;
- pose error between views: each view's world_from_camera as the headset reports it is off by
  up to ``pose_error_m`` and ``pose_error_deg`` (the depth is rendered with the true pose).

``SensorModel()`` is the basic model the v1 training data was made with (the four depth-noise
values; the other effects off), so an existing cache stays valid. The HoloLens 2 presets
(``PRESETS``) turn everything on:

    value                                long throw      AHAT            basis
    sigma_base_m + sigma_per_m * z       1.5 + 1.5/m mm  1.0 + 2.0/m mm  estimate inside Azure Kinect's published bounds
    dropout                              0.03            0.03            estimate (confidence invalidation)
    flying_pixel_prob, edge_jump_m       0.5, 5 cm       0.5, 3 cm       estimate (mixed pixels)
    grazing_start_deg, grazing_dropout   60 deg, 0.9     60 deg, 0.9     estimate (return ~ cos incidence)
    dark_fraction, dark_dropout          0.2, 0.5        0.2, 0.5        estimate (low-reflectivity materials)
    multipath_m, multipath_radius_m      4 mm, 10 cm     3 mm, 5 cm       estimate (ToF overestimates in corners)
    mask_error_px                        2               2               estimate (the user's segmenter)
    pose_error_m, pose_error_deg         3 mm, 0.5 deg   3 mm, 0.5 deg   the issue's figures (estimate)

docs/sensor_model.md lists the published figures each value is set against, and says which are
estimates (most: HoloLens 2 depth errors are little measured in print).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from scipy import ndimage

from occnet_ros.geometry.raycast import RayHits

FLYING_PIXEL_EDGES = ("right", "all")  # "right": compare each pixel with its right-hand neighbour (the v1 data)
NEIGHBOURS_4 = ((0, 1), (0, -1), (1, 0), (-1, 0))
FLAT_SINE = float(np.sin(np.deg2rad(2.0)))  # neighbours this close to the tangent plane count as flat
FULL_CONCAVITY = 0.25  # concavity score at which the multipath bias reaches multipath_m (a right-angled crease)


@dataclass(frozen=True)
class SensorModel:
    """Time-of-flight depth errors plus mask and pose errors; every effect is off at 0."""

    sigma_base_m: float = 0.0015
    sigma_per_m: float = 0.0015
    dropout: float = 0.03
    flying_pixel_prob: float = 0.5
    edge_jump_m: float = 0.05
    flying_pixel_edges: str = "right"  # "all": both sides of every edge, 4-neighbourhood, no wrap-around
    grazing_start_deg: float = 60.0
    grazing_dropout: float = 0.0  # chance of an invalid pixel at 90 deg incidence (linear from grazing_start_deg)
    dark_fraction: float = 0.0  # share of surfaces that are dark
    dark_dropout: float = 0.5  # chance of an invalid pixel on a dark surface
    dark_patch_m: float = 0.0  # 0: a whole object (hit geometry) is dark or not; > 0: cubes of this side
    multipath_m: float = 0.0  # range bias at full concavity (about the crease of a right-angled corner)
    multipath_radius_m: float = 0.1  # neighbourhood that reflects onto a pixel
    mask_error_px: int = 0  # each instance's mask erodes or bleeds by 1..this many pixels
    pose_error_m: float = 0.0  # each view's reported camera centre is off by up to this much
    pose_error_deg: float = 0.0  # and its orientation by up to this angle

    def __post_init__(self) -> None:
        for name in ("dropout", "flying_pixel_prob", "grazing_dropout", "dark_fraction", "dark_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"sensor {name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("sigma_base_m", "sigma_per_m", "edge_jump_m", "dark_patch_m", "multipath_m", "multipath_radius_m",
                     "mask_error_px", "pose_error_m", "pose_error_deg"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"sensor {name} must be >= 0, got {getattr(self, name)}")
        if self.flying_pixel_edges not in FLYING_PIXEL_EDGES:
            raise ValueError(f"sensor flying_pixel_edges must be one of {FLYING_PIXEL_EDGES}, got {self.flying_pixel_edges!r}")
        if not 0.0 <= self.grazing_start_deg < 90.0:
            raise ValueError(f"sensor grazing_start_deg must be in [0, 90), got {self.grazing_start_deg}")
        if int(self.mask_error_px) != self.mask_error_px:
            raise ValueError(f"sensor mask_error_px must be a whole number of pixels, got {self.mask_error_px}")

    @classmethod
    def from_config(cls, value: Any) -> SensorModel | None:
        """A model from a config value: null/false (no errors at all), a preset name, or a mapping
        of fields with an optional ``preset`` they override (default ``basic``). Unknown keys fail."""
        if value is None or value is False:
            return None
        if isinstance(value, SensorModel):
            return value
        if isinstance(value, str):
            return preset(value)
        if not isinstance(value, dict):
            raise ValueError(f"sensor config must be a preset name or a mapping, got {type(value).__name__}")
        values = dict(value)
        base = preset(values.pop("preset", "basic"))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown sensor settings {unknown}; known: {sorted(known | {'preset'})}")
        return replace(base, **values)

    @property
    def needs_hits(self) -> bool:
        """Whether ``apply`` needs the raycast's geometry (normals, hit points), not just depth."""
        return self.grazing_dropout > 0 or self.dark_fraction > 0 or self.multipath_m > 0

    @property
    def masks_objects(self) -> bool:
        return self.mask_error_px > 0

    def apply(self, depth: np.ndarray, rng: np.random.Generator, hits: RayHits | None = None, surface_seed: int = 0,
              region: np.ndarray | None = None) -> np.ndarray:
        """A noisy copy of a depth image (NaN = no return). ``hits`` (the raycast ``depth`` came from)
        is needed for grazing, dark and multipath errors; ``surface_seed`` picks the dark surfaces
        (keep it fixed across the views of one scene); ``region`` (bool (H, W)) limits the multipath
        bias, the one costly effect, to the pixels that are used (None = all). Effects that are off
        draw no random numbers."""
        if self.needs_hits and hits is None:
            raise ValueError("grazing, dark-surface and multipath errors need the raycast's hits")
        noisy = depth + rng.normal(size=depth.shape).astype(np.float32) * (
            self.sigma_base_m + self.sigma_per_m * np.nan_to_num(depth)
        ).astype(np.float32)
        if self.multipath_m > 0:
            noisy = noisy + self.multipath_bias(hits, region)
        noisy = self._flying_pixels(noisy, rng)
        noisy[rng.random(depth.shape) < self.dropout] = np.nan
        if self.grazing_dropout > 0:
            noisy[rng.random(depth.shape) < self.grazing_probability(hits.incidence_cos())] = np.nan
        if self.dark_fraction > 0:
            noisy[self.dark_surfaces(hits, surface_seed) & (rng.random(depth.shape) < self.dark_dropout)] = np.nan
        return noisy

    def _flying_pixels(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """At depth edges, mix a pixel with the far side of the edge (mixed-pixel returns)."""
        if self.flying_pixel_prob <= 0:
            return depth
        if self.flying_pixel_edges == "right":  # the v1 data: right-hand neighbour only (wraps at the border)
            filled = np.where(np.isfinite(depth), depth, np.inf)
            other = np.roll(filled, -1, axis=1)
            with np.errstate(invalid="ignore"):
                jump = np.isfinite(filled) & np.isfinite(other) & (np.abs(other - filled) > self.edge_jump_m)
        else:
            other = np.full_like(depth, np.nan)
            largest = np.full(depth.shape, self.edge_jump_m, dtype=np.float32)
            for dy, dx in NEIGHBOURS_4:
                neighbour = shifted(depth, dy, dx)
                with np.errstate(invalid="ignore"):
                    step = np.abs(neighbour - depth)
                    wider = step > largest  # NaN (no return on either side) is never an edge
                other = np.where(wider, neighbour, other)
                largest = np.where(wider, step, largest)
            jump = np.isfinite(other)
        pick = jump & (rng.random(depth.shape) < self.flying_pixel_prob)
        mix = rng.random(depth.shape).astype(np.float32)
        out = depth.copy()
        out[pick] = depth[pick] * (1 - mix[pick]) + other[pick] * mix[pick]
        return out

    def grazing_probability(self, incidence_cos: np.ndarray) -> np.ndarray:
        """Chance of an invalid pixel per pixel: 0 up to grazing_start_deg, then linear to grazing_dropout at 90 deg."""
        angle = np.degrees(np.arccos(np.clip(np.nan_to_num(incidence_cos, nan=1.0), 0.0, 1.0)))
        return self.grazing_dropout * np.clip((angle - self.grazing_start_deg) / (90.0 - self.grazing_start_deg), 0.0, 1.0)

    def dark_surfaces(self, hits: RayHits, surface_seed: int) -> np.ndarray:
        """(H, W) bool: pixels on a dark surface. A surface is a hit geometry (dark_patch_m = 0) or a
        cube of dark_patch_m of one; the choice is a hash, the same in every view of the scene."""
        keys = [hits.geometry[..., None]]
        if self.dark_patch_m > 0:
            keys.append(np.floor(np.nan_to_num(hits.points) / self.dark_patch_m).astype(np.int64))
        return (unit_hash(np.concatenate(keys, axis=-1), surface_seed) < self.dark_fraction) & (hits.geometry >= 0)

    def multipath_bias(self, hits: RayHits, region: np.ndarray | None = None) -> np.ndarray:
        """(H, W) depth bias (>= 0; 0 where nothing is hit or outside region): multipath_m times the concavity, capped."""
        score = concavity(hits, self.multipath_radius_m, region)
        return (self.multipath_m * np.clip(score / FULL_CONCAVITY, 0.0, 1.0) * np.nan_to_num(hits.depth_per_range)).astype(np.float32)

    def perturb_mask(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each instance of an id image (0 = none) eroded or dilated (even odds) by 1..mask_error_px pixels."""
        out = ids.copy()
        if self.mask_error_px <= 0:
            return out
        for value in np.unique(ids[ids > 0]):
            region = ids == value
            erode = rng.random() < 0.5
            band = 1 if self.mask_error_px == 1 else int(rng.integers(1, int(self.mask_error_px) + 1))
            if erode:
                # the image border is not the mask's border: a cut-off object does not erode from it
                out[region & ~ndimage.binary_erosion(region, iterations=band, border_value=1)] = 0
            else:
                out[ndimage.binary_dilation(region, iterations=band) & (out == 0)] = value
        return out

    def perturb_pose(self, world_from_camera: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The pose as the headset reports it: the true one moved by up to pose_error_m and turned by
        up to pose_error_deg about a random axis through the camera centre."""
        if self.pose_error_m <= 0 and self.pose_error_deg <= 0:
            return np.array(world_from_camera, dtype=np.float64)
        axis = _unit(rng.normal(size=3))
        angle = np.deg2rad(rng.uniform(0.0, self.pose_error_deg))
        offset = _unit(rng.normal(size=3)) * rng.uniform(0.0, self.pose_error_m)
        cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        delta = np.eye(4)
        delta[:3, :3] = np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
        delta[:3, 3] = offset
        return np.asarray(world_from_camera, dtype=np.float64) @ delta


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[y, x] = image[y + dy, x + dx], NaN where that falls outside the image."""
    out = np.full_like(image, np.nan)
    h, w = image.shape[:2]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = image[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)]
    return out


def concavity(hits: RayHits, radius_m: float, region: np.ndarray | None = None) -> np.ndarray:
    """(H, W) in [0, 1]: the mean sine of elevation of the neighbourhood's hit points above each
    pixel's tangent plane (points within 2 radius_m in 3D, sampled on two rings of about radius_m
    and half of it on the image). 0 on flat or convex surfaces; 0.2-0.3 at the crease of a right-angled corner.
    Computed for the pixels of ``region`` only, when given (0 elsewhere)."""
    hit = np.isfinite(hits.depth)
    score = np.zeros(hits.depth.shape, dtype=np.float32)
    if not hit.any() or radius_m <= 0:
        return score
    radius_px = int(np.clip(round(radius_m * hits.focal_px / float(np.median(hits.depth[hit]))), 1, 16))
    rings = sorted({max(1, radius_px // 2), radius_px})
    offsets = [(round(r * np.sin(a)), round(r * np.cos(a))) for r in rings for a in np.arange(8) * np.pi / 4]
    rows, cols = np.nonzero(hit if region is None else hit & region)
    h, w = hit.shape
    p, n = hits.points[rows, cols], hits.normals[rows, cols]
    total = np.zeros(len(rows), dtype=np.float32)
    count = np.zeros(len(rows), dtype=np.float32)
    for dy, dx in offsets:
        r, c = rows + dy, cols + dx
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        d = hits.points[np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)] - p
        distance = np.linalg.norm(d, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            near = inside & np.isfinite(distance) & (distance > 0) & (distance < 2 * radius_m)
            sine = np.einsum("nc,nc->n", n, d) / distance
        total += np.where(near & (sine > FLAT_SINE), sine, 0.0).astype(np.float32)
        count += near
    score[rows, cols] = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return np.clip(score, 0.0, 1.0)


def unit_hash(keys: np.ndarray, seed: int) -> np.ndarray:
    """A value in [0, 1) per row of integer keys (..., K), fixed for (keys, seed) (splitmix64 rounds)."""
    with np.errstate(over="ignore"):
        h = np.full(keys.shape[:-1], (int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64, dtype=np.uint64)
        for column in np.moveaxis(keys.astype(np.int64).view(np.uint64), -1, 0):
            h = h ^ (column + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2)))
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


HOLOLENS2_LONG_THROW = SensorModel(
    sigma_base_m=0.0015, sigma_per_m=0.0015, dropout=0.03, flying_pixel_prob=0.5, edge_jump_m=0.05, flying_pixel_edges="all",
    grazing_start_deg=60.0, grazing_dropout=0.9, dark_fraction=0.2, dark_dropout=0.5, multipath_m=0.004,
    multipath_radius_m=0.1, mask_error_px=2, pose_error_m=0.003, pose_error_deg=0.5,
)
HOLOLENS2_AHAT = replace(HOLOLENS2_LONG_THROW, sigma_base_m=0.001, sigma_per_m=0.002, edge_jump_m=0.03,
                         multipath_m=0.003, multipath_radius_m=0.05)
PRESETS: dict[str, SensorModel] = {
    "basic": SensorModel(),
    "hololens2_long_throw": HOLOLENS2_LONG_THROW,
    "hololens2_ahat": HOLOLENS2_AHAT,
}


def preset(name: str) -> SensorModel:
    """A named sensor model (``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown sensor preset {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]
