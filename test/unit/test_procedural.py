"""Procedural indoor-object generator: validity, plausible sizes, reproducibility."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest
import trimesh

from occnet_ros.shapes import catalog as procedural
from occnet_ros.shapes.catalog import CATEGORIES, FREEFORM, make_shape, make_shape_by_seed

SEEDS = (0, 1, 2)
ALL = (*CATEGORIES, FREEFORM)

# (height range, largest horizontal extent range) in metres, with some margin
SIZES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "chair": ((0.75, 1.05), (0.35, 0.75)),
    "table": ((0.68, 0.80), (0.60, 1.90)),
    "mug": ((0.07, 0.13), (0.06, 0.18)),
    "bottle": ((0.18, 0.32), (0.04, 0.10)),
    "cabinet": ((0.45, 2.00), (0.35, 1.10)),
    "lamp": ((0.30, 1.90), (0.10, 0.60)),
    "bowl": ((0.03, 0.13), (0.10, 0.32)),
    "monitor": ((0.25, 0.70), (0.40, 0.80)),
    "sofa": ((0.70, 1.00), (1.50, 2.50)),
    "shelf": ((0.75, 2.05), (0.55, 1.25)),
}


@cache
def _shape(category: str, seed: int) -> trimesh.Trimesh:
    return make_shape_by_seed(category, seed)


def test_categories_listed():
    assert set(SIZES) == set(CATEGORIES)
    assert FREEFORM not in CATEGORIES


@pytest.mark.parametrize(("category", "seed"), list(itertools.product(ALL, SEEDS)))
def test_shape_is_single_watertight_volume(category, seed):
    mesh = _shape(category, seed)
    assert mesh.is_watertight
    assert mesh.is_volume
    assert mesh.volume > 0
    assert mesh.body_count == 1
    lo, hi = mesh.bounds
    assert abs(lo[2]) < 1e-6  # stands on z = 0
    np.testing.assert_allclose((lo[:2] + hi[:2]) / 2, 0.0, atol=1e-6)  # centred in x/y


@pytest.mark.parametrize(
    ("category", "seed"), list(itertools.product(CATEGORIES, SEEDS))
)
def test_category_size_is_plausible(category, seed):
    (h_lo, h_hi), (w_lo, w_hi) = SIZES[category]
    extents = _shape(category, seed).extents
    assert h_lo <= extents[2] <= h_hi, extents
    assert w_lo <= extents[:2].max() <= w_hi, extents


@pytest.mark.parametrize("seed", SEEDS)
def test_freeform_size(seed):
    assert 0.09 <= _shape(FREEFORM, seed).extents.max() <= 1.01


@pytest.mark.parametrize("category", ALL)
def test_same_seed_same_mesh(category):
    a = make_shape_by_seed(category, 7)
    b = make_shape(category, np.random.default_rng(7))
    np.testing.assert_array_equal(a.vertices, b.vertices)
    np.testing.assert_array_equal(a.faces, b.faces)


@pytest.mark.parametrize("category", ALL)
def test_different_seeds_differ(category):
    meshes = [_shape(category, seed) for seed in SEEDS]
    differ = [
        a.vertices.shape != b.vertices.shape or not np.allclose(a.vertices, b.vertices)
        for a, b in itertools.combinations(meshes, 2)
    ]
    assert sum(differ) >= 2


def test_unknown_category_names_valid_ones():
    with pytest.raises(ValueError, match="chair") as info:
        make_shape("spaceship", np.random.default_rng(0))
    assert FREEFORM in str(info.value)


def test_invalid_builds_are_never_returned(monkeypatch):
    def open_box(rng):
        box = trimesh.creation.box()
        return trimesh.Trimesh(box.vertices, box.faces[:-1], process=False)

    monkeypatch.setitem(procedural._BUILDERS, "chair", open_box)
    with pytest.raises(RuntimeError, match="watertight"):
        make_shape("chair", np.random.default_rng(0))
