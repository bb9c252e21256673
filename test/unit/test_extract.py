"""MISE against the dense grid on analytic shapes; watertight output; bad functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from occnet_ros.complete.extract import ExtractionSettings, extract_mesh
from occnet_ros.evaluate.metrics import volumetric_iou


def sphere(p: torch.Tensor) -> torch.Tensor:
    return (0.35 - p.norm(dim=1)) * 40


def torus(p: torch.Tensor) -> torch.Tensor:
    ring = torch.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - 0.3
    return (0.08 - torch.sqrt(ring**2 + p[:, 2] ** 2)) * 40


def two_boxes(p: torch.Tensor) -> torch.Tensor:
    a = 0.2 - (p - torch.tensor([-0.2, 0.0, 0.0])).abs().max(dim=1).values
    b = 0.12 - (p - torch.tensor([0.3, 0.2, 0.1])).abs().max(dim=1).values
    return torch.maximum(a, b) * 40


@pytest.mark.parametrize("fn", [sphere, torus, two_boxes])
def test_mise_matches_dense_grid(fn):
    settings = ExtractionSettings(resolution0=16, upsampling_steps=2, threshold=0.5)
    mise = extract_mesh(fn, settings, use_mise=True)
    dense = extract_mesh(fn, settings, use_mise=False)
    assert mise.mesh.is_watertight and dense.mesh.is_watertight
    assert mise.evaluated_points < 0.5 * dense.evaluated_points
    iou = volumetric_iou(mise.mesh, dense.mesh, np.random.default_rng(0))
    assert iou > 0.99


def test_sphere_volume_is_right():
    result = extract_mesh(sphere, ExtractionSettings(32, 2, threshold=0.5))
    assert result.mesh.volume == pytest.approx(4 / 3 * np.pi * 0.35**3, rel=0.01)


def test_threshold_moves_the_surface():
    low = extract_mesh(sphere, ExtractionSettings(16, 1, threshold=0.2)).mesh.volume
    high = extract_mesh(sphere, ExtractionSettings(16, 1, threshold=0.8)).mesh.volume
    assert low > high


def test_surface_touching_the_box_is_still_closed():
    big = lambda p: (0.9 - p.abs().max(dim=1).values) * 10  # noqa: E731 - fills the whole box
    mesh = extract_mesh(big, ExtractionSettings(8, 1, threshold=0.5)).mesh
    assert mesh.is_watertight


def test_empty_and_nan_functions_raise():
    with pytest.raises(ValueError, match="empty"):
        extract_mesh(lambda p: -torch.ones(len(p)) * 5, ExtractionSettings(8, 1, 0.5))
    with pytest.raises(FloatingPointError):
        extract_mesh(lambda p: torch.full((len(p),), float("nan")), ExtractionSettings(8, 1, 0.5))
    with pytest.raises(ValueError, match="threshold"):
        extract_mesh(sphere, ExtractionSettings(8, 1, 1.5))


def test_upsampling_is_trilinear_interpolation():
    from scipy import ndimage

    from occnet_ros.complete.extract import _upsample

    grid = np.random.default_rng(0).normal(size=(9, 9, 9)).astype(np.float32)
    coords = np.arange(17) / 2.0
    expected = ndimage.map_coordinates(grid, np.meshgrid(coords, coords, coords, indexing="ij"), order=1)
    fine = _upsample(grid)
    assert fine.shape == (17, 17, 17) and np.allclose(fine, expected, atol=1e-5)
    assert np.array_equal(fine[::2, ::2, ::2], grid)


def test_refine_margin_keeps_a_plate_thinner_than_the_coarse_cells():
    """A 4 cm plate between two coarse vertex layers (cells 13.75 cm): classic MISE never looks
    inside it; a margin of 3 logits refines the cells it passes through."""

    def plate(p: torch.Tensor) -> torch.Tensor:
        slab = 0.02 - (p[:, 2] - 0.05).abs()
        return 100.0 * torch.minimum(slab, torch.minimum(0.3 - p[:, 0].abs(), 0.3 - p[:, 1].abs()))

    with pytest.raises(ValueError, match="empty"):
        extract_mesh(plate, ExtractionSettings(8, 2, threshold=0.5, refine_margin=0.0))
    result = extract_mesh(plate, ExtractionSettings(8, 2, threshold=0.5, refine_margin=3.0))
    dense = extract_mesh(plate, ExtractionSettings(32, 0, threshold=0.5), use_mise=False)
    assert result.mesh.is_watertight and result.evaluated_points < dense.evaluated_points
    assert result.mesh.volume == pytest.approx(dense.mesh.volume, rel=0.02)
    assert result.mesh.volume == pytest.approx(0.6 * 0.6 * 0.04, rel=0.3)
