"""Mirror symmetry as evidence for the hidden side (after Thrun & Wegbreit, ICCV 2005).

Most indoor objects are mirror symmetric about a vertical plane (chairs, sofas, tables,
monitors, cabinets; bowls, bottles and mugs about every plane through their axis). The mirror
image of each view is then a view of the same object from the mirrored camera: its depth and
mask flipped left-right, its pose reflected. A candidate plane is tested against the views
themselves: the observed points' reflections must not land in space a view saw through (known
free), and enough of them must land on surface a view did see. Only a plane that passes both is
used; the reconstruction then fuses the mirrored views' evidence with the views' and gives the
network the reflected points too, as if the object had been seen from twice as many places.
Adding the reflected points alone (the evidence the views' only) was measured first and did
not help: the network gained only where the mirrored TSDF gives the hidden side its detail.

Where a plane holds, the plane square to it is tried too (``second_plane``, judged at support
``second_min_support``: most of its reflections land on the side no view saw); a table or a
cabinet that passes both is seen from four times as many places.

Vertical planes only: gravity is known (z up), and an object's up-down mirror is rare indoors.
The search is a coarse grid of directions and offsets around the observed points' centre,
then finer ones around the best, scored on a random subset of the points; a reflection counts
as landing on the seen surface within a tolerance that shrinks with the search's step (never
under 5 mm, the ToF noise floor), which places the plane to a few millimetres. The plane is
judged at 1% of the object, floor or not: where the sensor's noise is coarser than that (small
objects), the symmetry cannot be checked at the precision the mesh needs and is not used.

Symmetry of revolution about a vertical axis (RevolutionSettings, off by default) is tested the
same way with the observed points turned about a fitted axis; where it holds, each view is copied
to evenly spaced places around the axis. Either symmetry's copies can be made to fill in only
where no real view observed (EvidenceSettings.copies_fill_only), so that a symmetry a few
millimetres off does not move the surface the views saw.

Both searches end on a grid whose candidates are scored at a tolerance of at least 5 mm, which
leaves a plane a few tenths of a degree and 1-3 mm off; point-to-plane ICP over the plane's yaw and
offset (or the axis's centre) then places it to a fraction of a millimetre where the views overlap
(complete/symmetry_icp.py). With ``icp_facing`` its pairs join only points whose normals face the
same way: the two sides of a bowl's or a chair back's thin wall lie millimetres apart but face
opposite ways, and pairing across them drags the symmetry off by up to the wall's thickness
(placed better, level on validation, so off: models/README.md, 'ICP pairs that face the same way').
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from occnet_ros.complete.evidence import EvidenceField
from occnet_ros.complete.symmetry_icp import refine_axis, refine_plane, reflect, rotation_about_axis, turn
from occnet_ros.geometry.views import DepthView


def _check_fractions(settings: SymmetrySettings | RevolutionSettings, name: str) -> None:
    """Both searches' judging thresholds are fractions of the scored points."""
    if not (0.0 <= settings.max_contradiction <= 1.0 and 0.0 <= settings.min_support <= 1.0):
        raise ValueError(f"{name} fractions must lie in [0, 1]: {settings}")


@dataclass(frozen=True)
class SymmetrySettings:
    enabled: bool = True  # measured on the validation splits: models/README.md, "Mirror symmetry"
    directions: int = 8  # plane normals tried over 180 degrees of yaw
    offsets: int = 9  # plane positions tried per normal, across +- offset_range of the extent
    offset_range: float = 0.25  # fraction of the points' horizontal extent
    refinements: int = 5  # finer searches around the best, each over half the last window
    sample_points: int = 200  # reflected points scored per candidate plane
    tolerance: float = 0.01  # a reflection this close to an observed point (fraction of the extent) lands on it
    min_tolerance_m: float = 0.005  # while searching, never closer than a few ToF noise sigmas (as the TSDF band)
    max_contradiction: float = 0.015  # most reflected points a plane may put in known-free space
    min_support: float = 0.5  # fewest reflected points that must land on observed surface
    icp_iterations: int = 3  # point-to-plane refinements of the plane after the grid search (0: the grid's plane)
    icp_facing: bool = False  # pair only points facing the same way (their cameras known): placed better, level on validation
    second_plane: bool = True  # also the plane square to a first (tables: three copies); validation: models/README.md
    second_min_support: float = 0.7  # the second plane's reflections land mostly on the unseen back: trust it on more overlap

    def validate(self) -> None:
        counts = (self.directions, self.offsets, self.sample_points)
        if min(counts) < 1 or min(self.refinements, self.icp_iterations) < 0 or self.offset_range < 0 or self.tolerance <= 0 \
                or self.min_tolerance_m < 0:
            raise ValueError(f"invalid symmetry settings {self}")
        _check_fractions(self, "symmetry")
        if not 0.0 <= self.second_min_support <= 1.0:
            raise ValueError(f"symmetry second_min_support must lie in [0, 1]: {self}")


@dataclass(frozen=True)
class MirrorPlane:
    """The vertical plane normal . p = offset (world), with its score on the views."""

    normal: np.ndarray  # unit, horizontal
    offset: float
    support: float  # fraction of reflected points on observed surface
    contradiction: float  # fraction of reflected points in known-free space
    residual: float = 2.0  # mean distance of the reflections to the nearest observed point, in tolerances (at most 2)

    def reflect(self, points: np.ndarray) -> np.ndarray:
        return reflect(points, self.normal, self.offset)

    def yaw_and_shift(self, origin: np.ndarray) -> tuple[float, float]:
        """The normal's yaw and the plane's signed distance from ``origin``: the search's coordinates."""
        return float(np.arctan2(self.normal[1], self.normal[0])), self.offset - float(origin @ self.normal)


def _scores(transformed: np.ndarray, field: EvidenceField, seen: cKDTree, tolerance: float,
            origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Support, contradiction and residual of T transformed copies (T, n, 3) of observed points:
    a point within ``tolerance`` of an observed point supports its transform, one in known-free
    space farther than that contradicts it (ToF noise and thin parts put even an exact symmetry's
    images just beside a leg); the residual is the mean distance to the seen surface in
    tolerances (at most 2). One evidence query for all copies: the per-view lookups dominate."""
    count = len(transformed)
    flat = transformed.reshape(-1, 3)
    free = field.at((flat - origin).astype(np.float32), origin).free.reshape(count, -1)
    distance = np.minimum(seen.query(flat, distance_upper_bound=2 * tolerance, workers=-1)[0], 2 * tolerance)
    distance = distance.reshape(count, -1)
    near = distance < tolerance
    return near.mean(axis=1), (free & ~near).mean(axis=1), distance.mean(axis=1) / tolerance


def _candidates(points: np.ndarray, field: EvidenceField, seen: cKDTree, tolerance: float, origin: np.ndarray,
                angles: np.ndarray, shifts: np.ndarray) -> list[MirrorPlane]:
    """Every plane at these yaw angles and shifts from ``origin``, scored on ``points`` (_scores)."""
    normals = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
    planes = [(n, float(origin @ n + shift)) for n in normals for shift in shifts]
    reflected = np.stack([reflect(points, n, d) for n, d in planes])
    support, contradiction, residual = _scores(reflected, field, seen, tolerance, origin)
    return [MirrorPlane(n, d, float(s), float(c), float(r))
            for (n, d), s, c, r in zip(planes, support, contradiction, residual, strict=True)]


def _rank(plane: MirrorPlane | RevolutionAxis) -> float:
    """Support, with contradiction weighing ten times as much (a plane is used only if
    admissible), and the reflections' distance to the seen surface to place it exactly."""
    return plane.support - 10.0 * plane.contradiction - 0.2 * plane.residual


def find_mirror_plane(points: np.ndarray, field: EvidenceField, rng: np.random.Generator,
                      settings: SymmetrySettings = SymmetrySettings(), seen: cKDTree | None = None,
                      facing: np.ndarray | None = None, yaw: float | None = None) -> MirrorPlane | None:
    """The vertical mirror plane of the observed world points (N, 3) that the views support
    best, or None when it puts too many reflections in known-free space or too few on seen
    surface. ``seen``: a k-d tree of ``points`` when the caller has one; ``facing``: the way from
    each point to a camera that saw it (camera_directions), for the ICP's pairing; ``yaw``: only
    planes with this normal direction are searched (a second plane square to a first)."""
    settings.validate()
    if len(points) < 3:
        return None
    sample = points[rng.choice(len(points), min(settings.sample_points, len(points)), replace=False)]
    origin = sample.mean(axis=0)
    half = settings.offset_range * float(np.ptp(sample[:, :2], axis=0).max())
    step_angle = np.pi / settings.directions
    step_shift = 2 * half / max(settings.offsets - 1, 1)
    seen = seen if seen is not None else cKDTree(points)
    tolerance = settings.tolerance * float(np.ptp(points, axis=0).max())
    floor = max(tolerance, settings.min_tolerance_m)

    def scored(angles: np.ndarray, shifts: np.ndarray, step: float) -> list[MirrorPlane]:
        # the tolerance follows the search's step, so a coarse plane near the right one still scores
        return _candidates(sample, field, seen, max(floor, step), origin, angles, shifts)

    directions = np.arange(settings.directions) * step_angle if yaw is None else np.array([yaw])
    step_angle = step_angle if yaw is None else 0.0  # a given direction is kept until ICP
    best = max(scored(directions, np.linspace(-half, half, settings.offsets), step_shift), key=_rank)
    fine = np.array([-1.0, 0.0, 1.0])
    for _ in range(settings.refinements):  # halve the window around the best each time
        step_angle, step_shift = step_angle / 2, step_shift / 2
        angle, shift = best.yaw_and_shift(origin)
        best = max(scored(angle + fine * step_angle, shift + fine * step_shift, step_shift), key=_rank)
    angle, shift = best.yaw_and_shift(origin)
    if settings.icp_iterations:
        angle, offset = refine_plane(points, angle, best.offset, seen, floor, settings.icp_iterations, rng, facing=facing)
        shift = offset - float(origin @ np.array([np.cos(angle), np.sin(angle), 0.0]))
    best = _candidates(sample, field, seen, tolerance, origin, np.array([angle]), np.array([shift]))[0]  # at the final tolerance
    admissible = best.contradiction <= settings.max_contradiction and best.support >= settings.min_support
    return best if admissible else None


def mirror_view(view: DepthView, plane: MirrorPlane) -> DepthView:
    """The view a camera at the mirror image of ``view``'s would take of the mirrored scene:
    the image flipped left-right (so the camera stays right-handed), the principal point with it."""
    reflection = np.eye(3) - 2.0 * np.outer(plane.normal, plane.normal)
    pose = np.eye(4)
    pose[:3, :3] = reflection @ view.world_from_camera[:3, :3] @ np.diag([-1.0, 1.0, 1.0])
    pose[:3, 3] = reflection @ view.world_from_camera[:3, 3] + 2.0 * plane.offset * plane.normal
    k = np.array(view.k, dtype=np.float64)
    k[0, 2] = view.depth.shape[1] - 1 - k[0, 2]
    return DepthView(view.depth[:, ::-1].copy(), view.mask[:, ::-1].copy(), k, pose)


@dataclass(frozen=True)
class RevolutionSettings:
    """Symmetry of revolution about a vertical axis (bowls, bottles, cans, vases, lamp shades).

    The axis is fitted to the points (a circle per height slab, one centre), moved to where its
    rotations score best, and judged like a mirror plane; the views are then copied to evenly
    spaced places around it. Off by default: on the validation splits it completes the hidden
    side of bottles, bowls and lamps at 3 views, is level on procedural shapes at 5, and loses
    at 5 views on small real objects (a 6 cm cupcake, a cocktail glass: their F@1% threshold is
    finer than the turned copies' noise) and on a near-round water heater whose fittings it
    spreads around it (models/README.md, 'Revolution symmetry')."""

    enabled: bool = False  # measured on the validation splits and not kept: models/README.md, 'Revolution symmetry'
    copies: int = 6  # the views are copied about the axis at 360 / copies degree steps
    test_angles: int = 12  # rotations scored, 360 / test_angles degrees apart (the identity left out)
    height_bins: int = 8  # the axis fit gives each height slab a radius of its own
    refinements: int = 3  # local searches of the axis around the fit, each over half the last window
    sample_points: int = 200  # rotated points scored per rotation
    tolerance: float = 0.01  # a rotated point this close to an observed point (fraction of the extent) lands on it
    min_tolerance_m: float = 0.005  # never closer than a few ToF noise sigmas, when searching and judging
    max_contradiction: float = 0.015  # most rotated points an axis may put in known-free space
    min_support: float = 0.5  # fewest rotated points that must land on observed surface
    give_up: float = 4.0  # no refinement when the fitted axis contradicts the views this many times more than allowed
    turned_input: bool = True  # the turned points join the network's input too (else the turned views' evidence alone)
    icp_iterations: int = 5  # point-to-plane refinements of the axis after the grid search (0: the grid's axis)
    icp_facing: bool = False  # pair only points facing the same way (their cameras known): placed better, level on validation

    def validate(self) -> None:
        counts = (self.copies - 1, self.test_angles - 1, self.height_bins, self.sample_points)
        if min(counts) < 1 or min(self.refinements, self.icp_iterations) < 0 or self.tolerance <= 0 or self.min_tolerance_m < 0 \
                or self.give_up < 1:
            raise ValueError(f"invalid revolution settings {self}")
        _check_fractions(self, "revolution")


@dataclass(frozen=True)
class RevolutionAxis:
    """The vertical line through (x, y) = ``center`` (world), with its score on the views."""

    center: np.ndarray  # (2,)
    support: float  # fraction of rotated points on observed surface
    contradiction: float  # fraction of rotated points in known-free space
    residual: float = 2.0  # mean distance of the rotated points to the nearest observed point, in tolerances

    def transform(self, angle: float) -> np.ndarray:
        """The (4, 4) rotation by ``angle`` (radians) about the axis."""
        return rotation_about_axis(self.center, angle)

    def rotate(self, points: np.ndarray, angle: float) -> np.ndarray:
        return turn(points, self.center, angle)


def turn_angles(count: int) -> np.ndarray:
    """The ``count - 1`` angles that, with the identity, split a full turn evenly."""
    return np.arange(1, count) * (2 * np.pi / count)


def fit_vertical_axis(points: np.ndarray, height_bins: int) -> np.ndarray | None:
    """The (x, y) of the vertical axis the points lie around, a circle per height slab with one
    shared centre (linear least squares: x^2 + y^2 = 2 cx x + 2 cy y + c_slab, after Kasa's fit);
    None when the slabs do not pin a centre (a single straight wall)."""
    z = points[:, 2]
    slab = np.minimum(((z - z.min()) / max(float(np.ptp(z)), 1e-9) * height_bins).astype(int), height_bins - 1)
    used, slab = np.unique(slab, return_inverse=True)
    design = np.zeros((len(points), 2 + len(used)))
    design[:, :2] = 2.0 * points[:, :2]
    design[np.arange(len(points)), 2 + slab] = 1.0
    target = (points[:, :2] ** 2).sum(axis=1)
    solution, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    return solution[:2] if rank == design.shape[1] else None


def _rotation_score(points: np.ndarray, field: EvidenceField, seen: cKDTree, tolerance: float, origin: np.ndarray,
                    center: np.ndarray, angles: np.ndarray) -> RevolutionAxis:
    """The axis through ``center`` scored on ``points`` rotated by every angle, pooled (_scores)."""
    rotated = np.stack([turn(points, center, a) for a in angles])
    support, contradiction, residual = _scores(rotated, field, seen, tolerance, origin)
    return RevolutionAxis(center, float(support.mean()), float(contradiction.mean()), float(residual.mean()))


def find_revolution_axis(points: np.ndarray, field: EvidenceField, rng: np.random.Generator,
                         settings: RevolutionSettings = RevolutionSettings(), seen: cKDTree | None = None,
                         facing: np.ndarray | None = None) -> RevolutionAxis | None:
    """The vertical axis of revolution of the observed world points (N, 3) that the views
    support, or None when its rotations put too many points in known-free space or too few on
    seen surface. The axis is fitted to the points (fit_vertical_axis), then moved on a small
    grid to the place the rotations score best, then placed by ICP. ``seen`` and ``facing``: as
    find_mirror_plane's."""
    settings.validate()
    if len(points) < 3:
        return None
    center = fit_vertical_axis(points[rng.choice(len(points), min(4000, len(points)), replace=False)], settings.height_bins)
    if center is None or not np.all(np.isfinite(center)):
        return None
    sample = points[rng.choice(len(points), min(settings.sample_points, len(points)), replace=False)]
    origin = sample.mean(axis=0)
    seen = seen if seen is not None else cKDTree(points)
    tolerance = max(settings.tolerance * float(np.ptp(points, axis=0).max()), settings.min_tolerance_m)
    angles = turn_angles(settings.test_angles)
    best = _rotation_score(sample, field, seen, tolerance, origin, center, angles)
    if best.contradiction > settings.give_up * settings.max_contradiction:
        return None  # far from admissible (a chair, a table): a refinement of a few millimetres will not make it so
    step = tolerance
    grid = np.array([(dx, dy) for dx in (-1.0, 0.0, 1.0) for dy in (-1.0, 0.0, 1.0) if dx or dy])
    for _ in range(settings.refinements):  # the fit is biased where one side is unseen: move it
        moved = [_rotation_score(sample, field, seen, tolerance, origin, best.center + step * d, angles) for d in grid]
        best = max([best, *moved], key=_rank)
        step /= 2
    if settings.icp_iterations:
        center = refine_axis(points, best.center, seen, tolerance, angles, settings.icp_iterations, rng, facing=facing)
        best = _rotation_score(sample, field, seen, tolerance, origin, center, angles)
    admissible = best.contradiction <= settings.max_contradiction and best.support >= settings.min_support
    return best if admissible else None


def rotated_view(view: DepthView, transform: np.ndarray) -> DepthView:
    """The view a camera moved rigidly by ``transform`` (world, 4 x 4) would take of the scene
    moved with it: the same image from the moved pose."""
    return DepthView(view.depth, view.mask, view.k, transform @ view.world_from_camera)


def revolved_views(views: list[DepthView], axis: RevolutionAxis, copies: int) -> list[DepthView]:
    """Each view rotated about the axis to ``copies - 1`` further places, evenly around it."""
    return [rotated_view(view, axis.transform(angle)) for angle in turn_angles(copies) for view in views]
