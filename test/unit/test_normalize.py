"""Canonical frame: round trip, fill, yaw alignment, degenerate clouds."""

from __future__ import annotations

import numpy as np
import pytest

from occnet_ros.geometry.frames import CanonicalFrame, DegenerateCloudError, yaw_matrix


def box_cloud(rng, size=(0.6, 0.2, 0.3), count=2000):
    return (rng.random((count, 3)) - 0.5) * size


def test_round_trip_and_fill():
    rng = np.random.default_rng(0)
    points = box_cloud(rng) @ yaw_matrix(0.7).T + [3.0, -1.0, 0.8]
    frame = CanonicalFrame.from_points(points, fill=0.8)
    canonical = frame.to_canonical(points)
    assert np.allclose(frame.to_world(canonical), points, atol=1e-9)
    extent = canonical.max(axis=0) - canonical.min(axis=0)
    assert extent.max() == pytest.approx(0.8, abs=1e-6)
    assert np.allclose((canonical.max(axis=0) + canonical.min(axis=0)) / 2, 0, atol=1e-6)
    homogeneous = np.c_[canonical, np.ones(len(canonical))] @ frame.matrix.T
    assert np.allclose(homogeneous[:, :3], points, atol=1e-9)


def test_yaw_is_removed_and_gravity_kept():
    rng = np.random.default_rng(1)
    base = box_cloud(rng)
    a = CanonicalFrame.from_points(base).to_canonical(base)
    for yaw in (0.4, 1.3, -2.0):
        b = CanonicalFrame.from_points(base @ yaw_matrix(yaw).T).to_canonical(base @ yaw_matrix(yaw).T)
        # same shape up to the 180-degree ambiguity of a principal axis
        assert np.allclose(a, b, atol=1e-6) or np.allclose(a * [-1, -1, 1], b, atol=1e-6)
        assert np.allclose(a[:, 2], b[:, 2], atol=1e-9)  # z never mixes with x/y


def test_flat_cloud_is_accepted():
    rng = np.random.default_rng(2)
    flat = box_cloud(rng, size=(0.5, 0.4, 0.0))
    frame = CanonicalFrame.from_points(flat)
    assert np.isfinite(frame.to_canonical(flat)).all()


@pytest.mark.parametrize("points, message", [
    (np.zeros((0, 3)), "no finite points"),
    (np.full((5, 3), np.nan), "no finite points"),
    (np.ones((20, 3)), "too small"),
    (np.zeros((4, 2)), "expected an"),
])
def test_degenerate_clouds_raise(points, message):
    with pytest.raises(DegenerateCloudError, match=message):
        CanonicalFrame.from_points(points)


def test_nan_rows_are_ignored():
    rng = np.random.default_rng(3)
    points = box_cloud(rng)
    with_nan = np.vstack([points, [[np.nan, 0, 0], [np.inf, 1, 1]]])
    a, b = CanonicalFrame.from_points(points), CanonicalFrame.from_points(with_nan)
    assert np.allclose(a.center, b.center) and a.scale == pytest.approx(b.scale)
