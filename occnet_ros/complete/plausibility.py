"""Is a cloud plausible as one object? Pure numpy, checked before reconstruction so that a wrong
mesh is never published as RECONSTRUCTED: far outliers are cleaned by robust bounds, clouds
that stay too large, collinear or (for classes that are not flat) planar are rejected."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occnet_ros.geometry.frames import DegenerateCloudError

MAX_EXTENT_M = 4.0  # no household object is larger; a sofa is ~2.5 m
LOW_Q, HIGH_Q = 2.0, 98.0  # robust bounds: percentiles of the bulk ...
BOUND_MARGIN = 0.5  # ... widened by this fraction of their spread on each side
MIN_BOUND_MARGIN_M = 0.02
COLLINEAR_RATIO = 0.01  # second / first principal spread below this: a line
PLANAR_RATIO = 1e-3  # third / first: a plane thinner than sensor noise
FLAT_CLASSES = ("book", "paper", "picture", "frame", "poster", "screen", "monitor", "tv", "laptop", "tablet", "phone",
                "board", "sheet", "mat", "rug", "carpet", "plate", "tray", "door", "mirror", "window", "sign")


class ImplausibleCloudError(DegenerateCloudError):
    """The cloud cannot be one object of its class (the message says why)."""


@dataclass
class CheckedCloud:
    points: np.ndarray  # (N, 3) float64, world frame, outliers removed
    dropped_non_finite: int
    dropped_outliers: int
    extent_m: float  # robust extent, longest axis


def flat_class(class_name: str) -> bool:
    name = class_name.lower()
    return any(word in name for word in FLAT_CLASSES)


def check_cloud(points: np.ndarray, class_name: str = "", max_extent_m: float = MAX_EXTENT_M) -> CheckedCloud:
    """The cloud cleaned of far outliers; raises ImplausibleCloudError (or DegenerateCloudError)
    with the reason when no mesh of the right size can come from it. Works on points recentred
    in float64, so coordinates far from the world origin lose nothing."""
    raw = np.asarray(points, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != 3:
        raise DegenerateCloudError(f"expected an (N, 3) point array, got shape {raw.shape}")
    finite = raw[np.isfinite(raw).all(axis=1)]
    if len(finite) < 3:
        raise DegenerateCloudError(f"{len(finite)} finite points of {len(raw)}")
    center = np.median(finite, axis=0)
    local = finite - center
    low, high = np.percentile(local, [LOW_Q, HIGH_Q], axis=0)
    margin = np.maximum(BOUND_MARGIN * (high - low), MIN_BOUND_MARGIN_M)
    keep = ((local >= low - margin) & (local <= high + margin)).all(axis=1)
    local = local[keep]
    if len(local) < 3:
        raise ImplausibleCloudError(f"only {len(local)} points inside the robust bounds")
    extent = float(np.ptp(local, axis=0).max())
    if not np.isfinite(extent) or extent > max_extent_m:
        raise ImplausibleCloudError(f"implausible size: robust extent {extent:.3g} m > {max_extent_m} m")
    spreads = np.linalg.svd(local - local.mean(axis=0), compute_uv=False) / np.sqrt(len(local))
    if spreads[0] <= 0 or spreads[1] < COLLINEAR_RATIO * spreads[0]:
        raise ImplausibleCloudError(f"collinear points (spreads {np.round(spreads, 5).tolist()} m): no volume to reconstruct")
    if spreads[2] < PLANAR_RATIO * spreads[0] and not flat_class(class_name):
        raise ImplausibleCloudError(f"planar points (spreads {np.round(spreads, 5).tolist()} m) for a '{class_name or 'object'}'")
    return CheckedCloud(local + center, len(raw) - len(finite), int((~keep).sum()), extent)
