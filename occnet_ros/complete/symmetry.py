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

Vertical planes only: gravity is known (z up), and an object's up-down mirror is rare indoors.
The search is a coarse grid of directions and offsets around the observed points' centre,
then finer ones around the best, scored on a random subset of the points; a reflection counts
as landing on the seen surface within a tolerance that shrinks with the search's step (never
under 5 mm, the ToF noise floor), which places the plane to a few millimetres. The plane is
judged at 1% of the object, floor or not: where the sensor's noise is coarser than that (small
objects), the symmetry cannot be checked at the precision the mesh needs and is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from occnet_ros.complete.evidence import EvidenceField
from occnet_ros.geometry.views import DepthView


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

    def validate(self) -> None:
        counts = (self.directions, self.offsets, self.sample_points)
        if min(counts) < 1 or self.refinements < 0 or self.offset_range < 0 or self.tolerance <= 0 or self.min_tolerance_m < 0:
            raise ValueError(f"invalid symmetry settings {self}")
        if not (0.0 <= self.max_contradiction <= 1.0 and 0.0 <= self.min_support <= 1.0):
            raise ValueError(f"symmetry fractions must lie in [0, 1]: {self}")


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


def reflect(points: np.ndarray, normal: np.ndarray, offset: float) -> np.ndarray:
    """``points`` (N, 3) mirrored about the plane normal . p = offset."""
    return points - 2.0 * (points @ normal - offset)[:, None] * normal


def _candidates(points: np.ndarray, field: EvidenceField, seen: cKDTree, tolerance: float, origin: np.ndarray,
                angles: np.ndarray, shifts: np.ndarray) -> list[MirrorPlane]:
    """Every plane at these yaw angles and shifts from ``origin``, scored on ``points``: a
    reflection within ``tolerance`` of an observed point supports the plane, one in known-free
    space farther than that contradicts it (ToF noise and thin parts put even an exact plane's
    reflections just beside a leg). One evidence query for all planes: the per-view lookups dominate."""
    normals = np.stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)], axis=1)
    planes = [(n, float(origin @ n + shift)) for n in normals for shift in shifts]
    reflected = np.concatenate([reflect(points, n, d) for n, d in planes])
    free = field.at((reflected - origin).astype(np.float32), origin).free.reshape(len(planes), -1)
    distance = np.minimum(seen.query(reflected, distance_upper_bound=2 * tolerance, workers=-1)[0], 2 * tolerance)
    distance = distance.reshape(len(planes), -1)
    near = distance < tolerance
    return [MirrorPlane(n, d, float(s.mean()), float((f & ~s).mean()), float(r.mean() / tolerance))
            for (n, d), s, f, r in zip(planes, near, free, distance, strict=True)]


def _rank(plane: MirrorPlane) -> float:
    """Support, with contradiction weighing ten times as much (a plane is used only if
    admissible), and the reflections' distance to the seen surface to place it exactly."""
    return plane.support - 10.0 * plane.contradiction - 0.2 * plane.residual


def find_mirror_plane(points: np.ndarray, field: EvidenceField, rng: np.random.Generator,
                      settings: SymmetrySettings = SymmetrySettings()) -> MirrorPlane | None:
    """The vertical mirror plane of the observed world points (N, 3) that the views support
    best, or None when it puts too many reflections in known-free space or too few on seen
    surface."""
    settings.validate()
    if len(points) < 3:
        return None
    sample = points[rng.choice(len(points), min(settings.sample_points, len(points)), replace=False)]
    origin = sample.mean(axis=0)
    half = settings.offset_range * float(np.ptp(sample[:, :2], axis=0).max())
    step_angle = np.pi / settings.directions
    step_shift = 2 * half / max(settings.offsets - 1, 1)
    seen = cKDTree(points)
    tolerance = settings.tolerance * float(np.ptp(points, axis=0).max())
    floor = max(tolerance, settings.min_tolerance_m)

    def scored(angles: np.ndarray, shifts: np.ndarray, step: float) -> list[MirrorPlane]:
        # the tolerance follows the search's step, so a coarse plane near the right one still scores
        return _candidates(sample, field, seen, max(floor, step), origin, angles, shifts)

    best = max(scored(np.arange(settings.directions) * step_angle, np.linspace(-half, half, settings.offsets), step_shift), key=_rank)
    fine = np.array([-1.0, 0.0, 1.0])
    for _ in range(settings.refinements):  # halve the window around the best each time
        step_angle, step_shift = step_angle / 2, step_shift / 2
        angle, shift = best.yaw_and_shift(origin)
        best = max(scored(angle + fine * step_angle, shift + fine * step_shift, step_shift), key=_rank)
    angle, shift = best.yaw_and_shift(origin)
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
