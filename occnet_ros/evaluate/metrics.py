"""Reconstruction metrics as ONet/ConvONet report them, in the ground truth's unit box.

Chamfer-L1: mean of accuracy (prediction -> GT) and completeness (GT -> prediction) over
surface samples. F-score at tau: harmonic mean of precision and recall at distance tau.
Volumetric IoU: on uniform samples of the padded box; both meshes must be watertight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from occnet_ros.geometry.frames import BOX_HALF
from occnet_ros.learn.sampling import occupancy

SURFACE_SAMPLES = 100_000
IOU_SAMPLES = 100_000
IOU_BOX_HALF = BOX_HALF


@dataclass
class MeshMetrics:
    chamfer_l1: float
    fscore_1pct: float
    fscore_2pct: float
    iou: float | None  # None when a mesh is not watertight

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)


def unit_box_transform(mesh: trimesh.Trimesh) -> np.ndarray:
    """4x4 similarity mapping the mesh's bounding box to a centred box of longest side 1."""
    low, high = mesh.bounds
    scale = 1.0 / float((high - low).max())
    matrix = np.eye(4) * scale
    matrix[3, 3] = 1.0
    matrix[:3, 3] = -(low + high) / 2 * scale
    return matrix


def chamfer_and_fscore(
    pred_points: np.ndarray, gt_points: np.ndarray, taus: tuple[float, ...] = (0.01, 0.02)
) -> tuple[float, list[float]]:
    """Chamfer-L1 and F-scores at each tau between two point sets."""
    accuracy = cKDTree(gt_points).query(pred_points, workers=1)[0]
    completeness = cKDTree(pred_points).query(gt_points, workers=1)[0]
    chamfer = 0.5 * (accuracy.mean() + completeness.mean())
    fscores = []
    for tau in taus:
        precision = (accuracy < tau).mean()
        recall = (completeness < tau).mean()
        fscores.append(float(2 * precision * recall / (precision + recall)) if precision + recall > 0 else 0.0)
    return float(chamfer), fscores


def volumetric_iou(pred: trimesh.Trimesh, gt: trimesh.Trimesh, rng: np.random.Generator, count: int = IOU_SAMPLES) -> float:
    """IoU of two watertight meshes on uniform samples of the padded unit box."""
    points = rng.uniform(-IOU_BOX_HALF, IOU_BOX_HALF, size=(count, 3))
    occ_pred, occ_gt = occupancy(pred, points), occupancy(gt, points)
    union = (occ_pred | occ_gt).sum()
    return float((occ_pred & occ_gt).sum() / union) if union else 0.0


def mesh_metrics(
    pred: trimesh.Trimesh, gt: trimesh.Trimesh, seed: int = 0, samples: int = SURFACE_SAMPLES
) -> MeshMetrics:
    """All metrics of a predicted mesh against ground truth, both first mapped by the GT's
    unit-box transform (so tau = 0.01 is 1% of the object's longest side)."""
    if len(pred.faces) == 0:
        raise ValueError("the predicted mesh has no faces")
    transform = unit_box_transform(gt)
    pred, gt = pred.copy().apply_transform(transform), gt.copy().apply_transform(transform)
    rng = np.random.default_rng(seed)
    pred_points = trimesh.sample.sample_surface(pred, samples, seed=int(rng.integers(2**31)))[0]
    gt_points = trimesh.sample.sample_surface(gt, samples, seed=int(rng.integers(2**31)))[0]
    chamfer, (f1, f2) = chamfer_and_fscore(pred_points, gt_points)
    iou = volumetric_iou(pred, gt, rng) if pred.is_watertight and gt.is_watertight else None
    return MeshMetrics(chamfer, f1, f2, iou)


def split_fscores(
    pred: trimesh.Trimesh, gt: trimesh.Trimesh, input_points: np.ndarray, tau: float = 0.01, near: float = 0.02,
    seed: int = 0, samples: int = SURFACE_SAMPLES,
) -> tuple[float | None, float | None]:
    """F@tau on the observed part of the ground-truth surface (GT samples within ``near`` of an
    input point, in the GT's unit box) and on the rest. Recall counts the part's GT samples;
    precision counts the predicted samples whose nearest GT sample lies in that part.
    None for a part with no GT sample."""
    transform = unit_box_transform(gt)
    rng = np.random.default_rng(seed)
    pred_points = trimesh.sample.sample_surface(pred.copy().apply_transform(transform), samples, seed=int(rng.integers(2**31)))[0]
    gt_points = trimesh.sample.sample_surface(gt.copy().apply_transform(transform), samples, seed=int(rng.integers(2**31)))[0]
    observed = cKDTree(trimesh.transform_points(np.asarray(input_points, float), transform)).query(gt_points, workers=1)[0] < near
    accuracy, nearest_gt = cKDTree(gt_points).query(pred_points, workers=1)
    completeness = cKDTree(pred_points).query(gt_points, workers=1)[0]
    scores: list[float | None] = []
    for part in (observed, ~observed):
        if not part.any():
            scores.append(None)
            continue
        recall = float((completeness[part] < tau).mean())
        mine = part[nearest_gt]
        precision = float((accuracy[mine] < tau).mean()) if mine.any() else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0)
    return scores[0], scores[1]
