"""Metrics against hand-computable cases."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from occnet_ros.evaluate.metrics import chamfer_and_fscore, mesh_metrics, volumetric_iou


def test_identical_meshes_score_perfectly():
    box = trimesh.creation.box([0.4, 0.7, 1.0])
    m = mesh_metrics(box, box.copy())  # 100k samples each: the sampling floor is ~0.003
    assert m.chamfer_l1 < 0.004 and m.fscore_1pct > 0.95 and m.iou == pytest.approx(1.0)


def test_offset_cubes_iou():
    a = trimesh.creation.box([0.5, 0.5, 0.5])
    b = a.copy().apply_translation([0.25, 0, 0])
    # overlap 0.25 x 0.5 x 0.5 over union 2 * 0.125 - 0.0625
    assert volumetric_iou(a, b, np.random.default_rng(0)) == pytest.approx(0.0625 / 0.1875, abs=0.01)


def test_offset_spheres_iou():
    r, d = 0.3, 0.3
    a = trimesh.creation.icosphere(subdivisions=5, radius=r)
    b = a.copy().apply_translation([d, 0, 0])
    lens = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12
    sphere = 4 / 3 * np.pi * r**3
    assert volumetric_iou(a, b, np.random.default_rng(0)) == pytest.approx(lens / (2 * sphere - lens), abs=0.01)


def test_point_set_chamfer_and_fscore():
    rng = np.random.default_rng(0)
    points = rng.random((5000, 3))
    shifted = points + [0.015, 0, 0]  # every point 1.5 cm away (its own twin is the nearest candidate)
    chamfer, (f1, f2) = chamfer_and_fscore(shifted, points, taus=(0.001, 0.05))
    assert chamfer <= 0.015 + 1e-9 and chamfer > 0.003
    assert f1 < 0.2 and f2 == pytest.approx(1.0)


def test_non_watertight_prediction_has_no_iou():
    box = trimesh.creation.box([1, 1, 1])
    open_box = trimesh.Trimesh(box.vertices, box.faces[:-2])
    m = mesh_metrics(open_box, box, samples=5000)
    assert m.iou is None and m.chamfer_l1 < 0.05
