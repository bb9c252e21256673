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


def pierced_plate(p: torch.Tensor) -> torch.Tensor:
    """A plate 0.12 thick pierced by a 5 x 5 lattice of square pinholes about one cell of a 32^3
    grid wide (0.03 of the 1.1 box), and one wide hole (0.2) in its middle."""
    plate = 0.06 - p[:, 2].abs()
    lattice = torch.remainder(p[:, :2] + 0.3 + 0.075, 0.15) - 0.075  # offsets from the nearest pinhole axis
    in_lattice = (p[:, :2].abs() < 0.38).all(dim=1)
    pinhole = (lattice.abs() < 0.015).all(dim=1) & in_lattice & ~(p[:, :2].abs() < 0.2).all(dim=1)
    wide = (p[:, :2].abs() < 0.1).all(dim=1)
    inside = (p[:, :2].abs() < 0.45).all(dim=1) & (plate > 0) & ~pinhole & ~wide
    return torch.where(inside, 4.0, -4.0)


def test_a_surface_full_of_pinholes_is_closed_before_marching_cubes_but_a_wide_hole_stays():
    from occnet_ros.complete.extract import handles

    raw = extract_mesh(pierced_plate, ExtractionSettings(32, 0, 0.5, max_handles=None), use_mise=False).mesh
    cleaned = extract_mesh(pierced_plate, ExtractionSettings(32, 0, 0.5, max_handles=5), use_mise=False).mesh
    assert handles(raw) >= 10  # every pinhole the grid resolves is a handle
    assert handles(raw) == (2 - raw.euler_number) // 2  # V - F / 2 is the Euler number of these closed surfaces
    assert handles(extract_mesh(torus, ExtractionSettings(16, 1, 0.5)).mesh) == 1
    assert handles(cleaned) == 1 and cleaned.is_watertight  # the wide hole only
    assert cleaned.volume > raw.volume
    untouched = extract_mesh(pierced_plate, ExtractionSettings(32, 0, 0.5, max_handles=1000), use_mise=False).mesh
    assert len(untouched.faces) == len(raw.faces)  # below the limit nothing changes
    from occnet_ros.nodes.parameters import RECONSTRUCTION

    assert next(p.default for p in RECONSTRUCTION if p.name == "max_handles") == ExtractionSettings.max_handles


def test_a_surface_whose_handles_no_closing_reaches_is_extracted_once(monkeypatch):
    """Above max_handles, a closing that adds nothing (the torus's hole is wide) costs no second marching cubes."""
    from occnet_ros.complete import extract

    calls = []
    original = extract.mesh_from_grid
    monkeypatch.setattr(extract, "mesh_from_grid", lambda grid, threshold: calls.append(grid) or original(grid, threshold))
    once = extract_mesh(torus, ExtractionSettings(16, 1, 0.5, max_handles=0)).mesh
    assert len(calls) == 1 and extract.handles(once) == 1
    extract_mesh(pierced_plate, ExtractionSettings(32, 0, 0.5, max_handles=5), use_mise=False)
    assert len(calls) == 3  # the pinholes close: extracted again


def test_closing_fills_enclosed_voids_and_one_cell_gaps_only():
    from occnet_ros.complete.extract import GAP_FILL_MARGIN, close_small_gaps

    inside = np.zeros((24, 24, 24), dtype=bool)
    inside[4:20, 4:20, 4:20] = True
    inside[10:12, 10:12, 10:12] = False  # an enclosed void
    inside[4:20, 6, 4:20] = False  # a one-cell slit through the block
    inside[4:20, 14:18, 4:20] = False  # a four-cell slot: a real gap
    grid = np.where(inside, 2.0, -2.0).astype(np.float32)
    closed = close_small_gaps(grid, 0.5) >= 0.0
    assert closed[10:12, 10:12, 10:12].all() and closed[5:19, 6, 5:19].all()
    assert not closed[4:20, 15:17, 4:20].any()
    assert np.array_equal(closed & inside, inside)  # nothing inside is taken away
    assert close_small_gaps(grid, 0.5)[10, 10, 10] == pytest.approx(GAP_FILL_MARGIN)


def test_signed_volume_is_the_enclosed_volume_with_the_winding_as_its_sign():
    import trimesh

    from occnet_ros.complete.extract import signed_volume

    box = trimesh.creation.box((0.2, 0.3, 0.4)).apply_translation((1.0, -2.0, 0.5))
    assert signed_volume(box) == pytest.approx(0.024) and signed_volume(box) == pytest.approx(box.volume)
    box.invert()
    assert signed_volume(box) == pytest.approx(-0.024)
    mesh = extract_mesh(torus, ExtractionSettings(16, 1, 0.5)).mesh
    assert signed_volume(mesh) > 0 and signed_volume(mesh) == pytest.approx(mesh.volume)


@pytest.mark.parametrize("norm", ["euclidean", "l1", "chebyshev"])
def test_grid_vertices_on_the_level_leave_the_mesh_closed(norm):
    """A lattice ball of integer radius has grid vertices exactly on the level: marching cubes put
    several surface vertices on each, and welded they pinched the mesh open (fixed by clear_of_level)."""
    from occnet_ros.complete.extract import clear_of_level, mesh_from_grid, surface_level

    level = surface_level(0.4)
    axis = np.arange(33) - 16
    x, y, z = np.abs(np.meshgrid(axis, axis, axis, indexing="ij"))
    distance = {"euclidean": np.sqrt(x**2 + y**2 + z**2), "l1": x + y + z, "chebyshev": np.maximum(np.maximum(x, y), z)}[norm]
    grid = (level + (7 - distance)).astype(np.float32)
    assert (grid == np.float32(level)).sum() > 0
    cleared = clear_of_level(grid, level)
    assert np.array_equal(cleared >= level, grid >= level)  # inside stays inside
    assert np.abs(cleared - level).min() >= 0.9e-3 and np.abs(cleared - grid).max() <= 1e-3
    mesh = mesh_from_grid(grid, 0.4)
    assert mesh.is_watertight and (mesh.area_faces > 0).all()
    far = np.where(np.abs(grid - level) < 0.5, level + 0.5, grid)
    assert clear_of_level(far, level) is far
