"""ICP that places a symmetry found on a grid to a fraction of a millimetre (complete/symmetry.py).

Point-to-plane: each moved (reflected or turned) observed point that lands near the seen surface
is paired with its nearest observed point and that point's normal, and the symmetry's few
unknowns (a plane's yaw and offset, an axis's centre) are solved by linearised least squares.
Optionally pairs join only points facing the same way (each normal turned towards the camera
that saw the point, geometry/views.py camera_directions), so a thin wall's two sides, millimetres
apart but facing opposite ways, are never paired. Also the reflections and turns themselves.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def reflect(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """``points`` (N, 3) mirrored about the plane normal . p = offset."""
    return points - 2.0 * (points @ normal - offset)[:, None] * normal


def rotation_about_axis(center: np.ndarray, angle: float) -> np.ndarray:
    """The (4, 4) rotation by ``angle`` about the vertical line through ``center`` (x, y)."""
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.eye(4)
    matrix[:2, :2] = [[c, -s], [s, c]]
    matrix[:2, 3] = center - matrix[:2, :2] @ center
    return matrix


def turn(points: np.ndarray, center: np.ndarray, angle: float) -> np.ndarray:
    """``points`` (N, 3) rotated by ``angle`` about the vertical line through ``center`` (x, y)."""
    matrix = rotation_about_axis(center, angle)
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def surface_normals(points: np.ndarray, at: np.ndarray, seen: cKDTree, neighbours: int = 12,
                    facing: np.ndarray | None = None) -> np.ndarray:
    """Unit normals (M, 3) of the seen surface at ``at`` (M, 3): the least-variance direction of
    each point's ``neighbours`` nearest observed points, turned towards ``facing`` (M, 3, the way to
    a camera that saw the point) where that is finite, sign arbitrary elsewhere."""
    _, index = seen.query(at, k=min(neighbours, len(points)), workers=-1)
    local = points[index] - points[index].mean(axis=1, keepdims=True)
    normals = np.linalg.eigh(np.einsum("mki,mkj->mij", local, local))[1][:, :, 0]
    if facing is not None:
        normals *= np.where(np.einsum("mi,mi->m", normals, facing) < 0, -1.0, 1.0)[:, None]  # NaN facing: unchanged
    return normals


def facing_normals(points: np.ndarray, index: np.ndarray, seen: cKDTree, facing: np.ndarray | None) -> np.ndarray | None:
    """The normals of the observed points ``index``, facing their cameras; None without ``facing``
    (NaN rows where a point's camera is unknown)."""
    if facing is None:
        return None
    normals = surface_normals(points, points[index], seen, facing=facing[index])
    normals[~np.isfinite(facing[index, 0])] = np.nan
    return normals


def icp_pairs(points: np.ndarray, moved: np.ndarray, seen: cKDTree, tolerance: float, normals: np.ndarray,
              facing: np.ndarray | None = None, moved_normals: np.ndarray | None = None,
              candidates: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """ICP's pairs: which ``moved`` points land within 2 ``tolerance`` of the seen surface, the
    index of each one's nearest observed point and that point's normal (estimated into the
    ``normals`` cache, NaN rows, when first needed); None when fewer than 3 land. With ``facing``
    (the way from each observed point to a camera that saw it) and ``moved_normals`` (the moved
    points' normals, facing their cameras and moved with them), a moved point pairs with the
    nearest of its ``candidates`` nearest observed points whose normal faces the same way (not
    opposite): a thin wall's two sides are millimetres apart but face opposite ways."""
    if facing is None or moved_normals is None:
        distance, index = seen.query(moved, distance_upper_bound=2 * tolerance, workers=-1)
        distance, index = distance[:, None], index[:, None]
    else:
        distance, index = seen.query(moved, k=candidates, distance_upper_bound=2 * tolerance, workers=-1)
    landed = np.isfinite(distance)
    new = np.unique(index[landed][np.isnan(normals[index[landed], 0])])
    normals[new] = surface_normals(points, points[new], seen, facing=None if facing is None else facing[new])
    if facing is not None and moved_normals is not None:
        safe = np.where(landed, index, 0)
        agree = np.einsum("mi,mki->mk", moved_normals, normals[safe])
        landed &= ~(agree < 0) | ~np.isfinite(facing[safe, 0])  # a camera unknown (NaN): no opinion, the pair stands
    first = np.argmax(landed, axis=1)
    rows = np.arange(len(moved))
    inlier = landed[rows, first]
    if inlier.sum() < 3:
        return None
    index = index[rows, first][inlier]
    return inlier, index, normals[index]


def refine_axis(points: np.ndarray, center: np.ndarray, seen: cKDTree, tolerance: float, angles: np.ndarray,
                iterations: int, rng: np.random.Generator, sample_points: int = 1000, facing: np.ndarray | None = None) -> np.ndarray:
    """The axis centre (x, y) moved so that the turned points lie on the seen surface, by
    point-to-plane ICP with the centre as its only unknown: turning about ``center + d`` moves
    every point turned by angle a by (I - R_a) d, a linear term, so each iteration is a 2-unknown
    least squares over the turned points that land within 2 ``tolerance`` of the seen surface.
    The grid search scores whole candidates on 200 points, which leaves the axis 1-2 mm off; this
    pools thousands of residuals (a bottle's axis from 0.9 to 0.2 mm). ``facing`` (the way from
    each point to a camera that saw it) keeps a point on one side of a bowl's thin wall from
    pairing with the other side (icp_pairs)."""
    chosen = rng.choice(len(points), min(sample_points, len(points)), replace=False)
    sample, sample_normals = points[chosen], facing_normals(points, chosen, seen, facing)
    cos, sin = np.cos(angles), np.sin(angles)
    levers = np.eye(2) - np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # d(turned xy) / d(centre)
    levers = np.repeat(levers, len(sample), axis=0)  # one per turned point, angle-major as below
    normals = np.full(points.shape, np.nan)  # each seen point's normal, estimated once when first paired
    for _ in range(iterations):
        turned = np.concatenate([turn(sample, center, angle) for angle in angles])
        moved_normals = None if sample_normals is None else np.concatenate(
            [turn(sample_normals, np.zeros(2), angle) for angle in angles])
        pairs = icp_pairs(points, turned, seen, tolerance, normals, facing, moved_normals)
        if pairs is None:
            break
        inlier, index, normal = pairs
        rows = np.einsum("mi,mij->mj", normal[:, :2], levers[inlier])
        residuals = -np.einsum("mi,mi->m", normal, turned[inlier] - points[index])
        step = np.linalg.lstsq(rows, residuals, rcond=None)[0]
        step = np.clip(step, -tolerance, tolerance)  # a bad linearisation never throws the axis off
        center = center + step
        if np.linalg.norm(step) < 1e-5:
            break
    return center


def refine_plane(points: np.ndarray, angle: float, offset: float, seen: cKDTree, tolerance: float, iterations: int,
                 rng: np.random.Generator, sample_points: int = 500, facing: np.ndarray | None = None) -> tuple[float, float]:
    """The plane's yaw and offset moved so that the reflected points lie on the seen surface, by
    point-to-plane ICP over those two unknowns: each iteration pairs the reflections that land
    within 2 ``tolerance`` of the seen surface with their nearest observed point and its normal and
    solves the linearised least squares (see refine_axis). ``facing``: see icp_pairs."""
    chosen = rng.choice(len(points), min(sample_points, len(points)), replace=False)
    sample, sample_normals = points[chosen], facing_normals(points, chosen, seen, facing)
    normals = np.full(points.shape, np.nan)  # each seen point's normal, estimated once when first paired
    for _ in range(iterations):
        normal = np.array([np.cos(angle), np.sin(angle), 0.0])
        along = np.array([-np.sin(angle), np.cos(angle), 0.0])  # d normal / d angle
        reflected = reflect(sample, normal, offset)
        moved_normals = None if sample_normals is None else reflect(sample_normals, normal, 0.0)
        pairs = icp_pairs(points, reflected, seen, tolerance, normals, facing, moved_normals)
        if pairs is None:
            break
        inlier, index, surface = pairs
        moved = sample[inlier]
        height = moved @ normal - offset  # signed distance of each point to the plane
        d_angle = -2.0 * ((moved @ along)[:, None] * normal + height[:, None] * along)  # d reflection / d angle
        rows = np.stack([np.einsum("mi,mi->m", surface, d_angle), 2.0 * surface @ normal], axis=1)  # d reflection / d offset = 2 normal
        residuals = -np.einsum("mi,mi->m", surface, reflected[inlier] - points[index])
        step = np.linalg.lstsq(rows, residuals, rcond=None)[0]
        step = np.clip(step, [-0.05, -tolerance], [0.05, tolerance])  # a bad linearisation never throws the plane off
        angle, offset = angle + float(step[0]), offset + float(step[1])
        if abs(step[1]) < 1e-5 and abs(step[0]) < 1e-4:
            break
    return angle, offset
