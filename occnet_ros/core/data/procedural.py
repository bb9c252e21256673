"""Seeded procedural generator of watertight indoor-object meshes.

Shapes are assembled from simple primitives (boxes, cylinders, superquadrics,
lathed profiles, extruded polygons) and merged with manifold booleans, so every
returned mesh is a single watertight volume.

Conventions: metres, z-up (REP-103), resting on z = 0, centred in x/y, with the
"front" of furniture facing -y.  The same ``numpy.random.Generator`` state always
yields the same mesh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import pairwise
from typing import NamedTuple

import manifold3d
import numpy as np
import trimesh
from trimesh import transformations as tf

__all__ = ["CATEGORIES", "FREEFORM", "SPLIT_SEEDS", "make_shape", "make_shape_by_seed"]

CATEGORIES: tuple[str, ...] = (
    "chair",
    "table",
    "mug",
    "bottle",
    "cabinet",
    "lamp",
    "bowl",
    "monitor",
    "sofa",
    "shelf",
)
FREEFORM = "primitives"
# first seed of each split: train, val and test shapes never share a seed
SPLIT_SEEDS = {"train": 0, "val": 1_000_000, "test": 2_000_000}

EPS = 0.002  # overlap between touching parts [m], keeps unions connected
# Faces that would be flush with a neighbour's face are set back by at least GAP:
# exactly or nearly coplanar faces make manifold booleans emit pinched vertices.
GAP = 0.003
MAX_ATTEMPTS = 8  # fresh draws before giving up on a shape
Z_AXIS = (0.0, 0.0, 1.0)
X_AXIS = (1.0, 0.0, 0.0)

# what a degenerate draw can raise inside trimesh / manifold3d
_BUILD_ERRORS = (ValueError, RuntimeError, ArithmeticError, IndexError)

Vec = Sequence[float]
Builder = Callable[[np.random.Generator], trimesh.Trimesh]


# ---------------------------------------------------------------- primitives


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One uniform draw as a plain float."""
    return float(rng.uniform(lo, hi))


def _aabb(lo: Vec, hi: Vec) -> trimesh.Trimesh:
    """Axis-aligned box between two corners (given in any order)."""
    bounds = np.sort(np.array([lo, hi], dtype=np.float64), axis=0)
    return trimesh.creation.box(bounds=bounds)


def _cyl(
    r: float, z0: float, z1: float, x: float = 0.0, y: float = 0.0, sections: int = 32
) -> trimesh.Trimesh:
    """Vertical cylinder of radius ``r`` spanning ``z0..z1`` at (x, y)."""
    return _rod((x, y, z0), (x, y, z1), r, sections)


def _rod(p0: Vec, p1: Vec, r: float, sections: int = 24) -> trimesh.Trimesh:
    """Cylinder of radius ``r`` whose axis runs from ``p0`` to ``p1``."""
    return trimesh.creation.cylinder(radius=r, segment=[p0, p1], sections=sections)


def _post(
    x: float, y: float, size: float, z0: float, z1: float, rounded: bool
) -> trimesh.Trimesh:
    """Vertical leg/post: a cylinder of diameter ``size`` or a square box."""
    if rounded:
        return _cyl(size / 2, z0, z1, x, y, sections=24)
    h = size / 2
    return _aabb((x - h, y - h, z0), (x + h, y + h, z1))


def _lathe(profile: Sequence[Vec], sections: int = 40) -> trimesh.Trimesh:
    """Revolve an (r, z) profile that starts and ends on the z axis."""
    pts = np.asarray(profile, dtype=np.float64)
    r, z = pts[:, 0], pts[:, 1]
    signed_area = np.dot(r, np.roll(z, -1)) - np.dot(z, np.roll(r, -1))
    if signed_area < 0:  # revolve needs a counter-clockwise loop for outward normals
        pts = pts[::-1]
    return trimesh.creation.revolve(pts, sections=sections)


@lru_cache(maxsize=4)
def _unit_sphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Cached (vertices, faces) of an icosphere, read-only."""
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    verts, faces = sphere.vertices.copy(), sphere.faces.copy()
    verts.setflags(write=False)
    faces.setflags(write=False)
    return verts, faces


def _superquadric(
    radii: Vec, e1: float, e2: float, center: Vec = (0, 0, 0), subdivisions: int = 3
) -> trimesh.Trimesh:
    """Superellipsoid (e1: vertical, e2: horizontal squareness; 1 = ellipsoid).

    Icosphere points are scaled to an ellipsoid and projected radially onto the
    implicit surface, which preserves topology and winding.
    """
    unit, faces = _unit_sphere(subdivisions)
    a = np.abs(unit)
    f = (a[:, 0] ** (2 / e2) + a[:, 1] ** (2 / e2)) ** (e2 / e1) + a[:, 2] ** (2 / e1)
    verts = unit * np.asarray(radii, dtype=np.float64) * (f ** (-e1 / 2))[:, None]
    return trimesh.Trimesh(verts + np.asarray(center), faces.copy())


@lru_cache(maxsize=1)
def _sphere_points() -> np.ndarray:
    """Unit-sphere samples that include the six axis extremes (read-only)."""
    lat, lon = np.meshgrid(
        np.linspace(-np.pi / 2, np.pi / 2, 7), np.arange(12) * np.pi / 6
    )
    pts = np.column_stack(
        (np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat))
    ).reshape(-1, 3)
    pts = np.unique(np.round(pts, 12), axis=0)
    pts.setflags(write=False)
    return pts


def _rounded_box(size: Vec, center: Vec, rounding: float) -> trimesh.Trimesh:
    """Box with rounded edges: convex hull of eight corner spheres.

    ``rounding`` is the corner radius as a fraction of the smallest half-size.
    Its faces are exactly planar, which keeps booleans with flush neighbours
    robust (flat-ish superquadric faces are not).
    """
    half = np.asarray(size, dtype=np.float64) / 2
    r = rounding * half.min()
    signs = np.array(
        [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]
    )
    pts = (signs[:, None, :] * (half - r) + r * _sphere_points()[None]).reshape(-1, 3)
    out = manifold3d.Manifold.hull_points(pts).to_mesh()
    mesh = trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], out.tri_verts)
    return mesh.apply_translation(center)


def _extrude(polygon: np.ndarray, height: float, taper: float = 1.0) -> trimesh.Trimesh:
    """Extrude a counter-clockwise 2D polygon along +z (optionally tapering)."""
    section = manifold3d.CrossSection([np.asarray(polygon, dtype=np.float64)])
    out = section.extrude(height, scale_top=(taper, taper)).to_mesh()
    return trimesh.Trimesh(np.asarray(out.vert_properties)[:, :3], out.tri_verts)


def _union(parts: Sequence[trimesh.Trimesh]) -> trimesh.Trimesh:
    """Manifold union of overlapping solids."""
    return trimesh.boolean.union(list(parts), engine="manifold")


def _difference(solid: trimesh.Trimesh, cutter: trimesh.Trimesh) -> trimesh.Trimesh:
    """Manifold difference ``solid - cutter``."""
    return trimesh.boolean.difference([solid, cutter], engine="manifold")


def _rotated(parts: list[trimesh.Trimesh], matrix: np.ndarray) -> list[trimesh.Trimesh]:
    """Apply one rigid transform to every part (in place) and return them."""
    return [p.apply_transform(matrix) for p in parts]


def _spin(angle: float) -> np.ndarray:
    """Rotation about +z through the origin."""
    return tf.rotation_matrix(angle, Z_AXIS)


# ---------------------------------------------------------------- chair


class _Seat(NamedTuple):
    w: float  # width (x)
    d: float  # depth (y)
    z: float  # top surface height
    t: float  # thickness
    top: float  # overall chair height


def _chair(rng: np.random.Generator) -> trimesh.Trimesh:
    s = _Seat(
        w=_u(rng, 0.40, 0.55),
        d=_u(rng, 0.40, 0.52),
        z=_u(rng, 0.42, 0.48),
        t=_u(rng, 0.03, 0.07),
        top=_u(rng, 0.80, 1.00),
    )
    seat = _aabb((-s.w / 2, -s.d / 2, s.z - s.t), (s.w / 2, s.d / 2, s.z))
    back_t = _u(rng, 0.02, 0.04)
    parts = [seat, *_chair_base(rng, s), *_chair_back(rng, s, back_t)]
    if rng.random() < 0.4:
        parts += _chair_arms(rng, s, back_t)
    return _union(parts)


def _chair_base(rng: np.random.Generator, s: _Seat) -> list[trimesh.Trimesh]:
    """Four box/cylinder legs (optional stretchers) or an office-chair star base."""
    if rng.random() < 0.3:
        return _star_base(rng, s.z - s.t / 2)
    lt, inset = _u(rng, 0.025, 0.05), _u(rng, GAP, 0.04)
    x, y = s.w / 2 - inset - lt / 2, s.d / 2 - inset - lt / 2
    rounded = bool(rng.random() < 0.5)
    top = s.z - s.t / 2
    parts = [
        _post(sx * x, sy * y, lt, 0.0, top, rounded) for sx in (-1, 1) for sy in (-1, 1)
    ]
    if rng.random() < 0.4:
        zs, rt = _u(rng, 0.1, 0.2), lt * 0.6
        parts += [
            _aabb((sx * x - rt / 2, -y, zs - rt / 2), (sx * x + rt / 2, y, zs + rt / 2))
            for sx in (-1, 1)
        ]
    return parts


def _star_base(rng: np.random.Generator, top: float) -> list[trimesh.Trimesh]:
    """Central column on 4-5 spokes, each ending in a caster."""
    n = int(rng.integers(4, 6))
    length, caster_h = _u(rng, 0.24, 0.32), _u(rng, 0.03, 0.06)
    spoke_h, spoke_w = _u(rng, 0.025, 0.04), _u(rng, 0.03, 0.045)
    caster_r = spoke_w / 2 + _u(rng, 0.004, 0.01)
    pole_r = _u(rng, 0.02, 0.03)
    hub_r = max(1.6 * pole_r, spoke_w / 2 + 0.02)
    phase = _u(rng, 0.0, 2 * np.pi / n)
    z0 = caster_h
    parts = [
        _cyl(pole_r, z0 + spoke_h / 2, top),
        _cyl(hub_r, z0 + GAP, z0 + spoke_h + 0.03),
    ]
    x0 = spoke_w / 2 + GAP  # spokes meet only inside the hub, never each other
    for i in range(n):
        rot = _spin(phase + 2 * np.pi * i / n)
        spoke = _aabb((x0, -spoke_w / 2, z0), (length, spoke_w / 2, z0 + spoke_h))
        caster = _cyl(
            caster_r, 0.0, z0 + spoke_h / 2, x=length - caster_r - GAP, sections=24
        )
        parts += _rotated([spoke, caster], rot)
    return parts


def _chair_back(rng: np.random.Generator, s: _Seat, bt: float) -> list[trimesh.Trimesh]:
    """Solid panel, slats between posts, or spindles under a top rail; tilted."""
    y, z0 = s.d / 2 - bt / 2 - GAP, s.z - s.t / 2
    style = int(rng.integers(3))
    if style == 0:
        bw = s.w * _u(rng, 0.8, 0.97)
        parts = [_aabb((-bw / 2, y - bt / 2, z0), (bw / 2, y + bt / 2, s.top))]
    else:
        pt = _u(rng, 0.025, 0.045)
        xp = s.w / 2 - pt / 2 - GAP
        rounded = bool(rng.random() < 0.4)
        parts = [_post(sx * xp, y, pt, z0, s.top, rounded) for sx in (-1, 1)]
        fill = _back_slats if style == 1 else _back_spindles
        parts += fill(rng, s, xp, y, 0.6 * pt)
    tilt = tf.rotation_matrix(-_u(rng, 0.0, np.radians(12)), X_AXIS, (0.0, y, s.z))
    return _rotated(parts, tilt)


def _back_slats(
    rng: np.random.Generator, s: _Seat, xp: float, y: float, st: float
) -> list[trimesh.Trimesh]:
    """1-4 horizontal slats of thickness ``st`` spanning the two posts."""
    n = int(rng.integers(1, 5))
    z_lo, z_hi = s.z + _u(rng, 0.08, 0.2), s.top - _u(rng, 0.005, 0.03)
    span = z_hi - z_lo
    h = (
        span * _u(rng, 0.4, 0.8)
        if n == 1
        else min(_u(rng, 0.03, 0.08), span / (1.5 * n))
    )
    centers = [z_hi - h / 2] if n == 1 else np.linspace(z_lo + h / 2, z_hi - h / 2, n)
    return [
        _aabb((-xp, y - st / 2, zc - h / 2), (xp, y + st / 2, zc + h / 2))
        for zc in centers
    ]


def _back_spindles(
    rng: np.random.Generator, s: _Seat, xp: float, y: float, st: float
) -> list[trimesh.Trimesh]:
    """Top rail of thickness ``st`` carried by 3-6 round spindles."""
    rail_h = _u(rng, 0.04, 0.08)
    r = min(_u(rng, 0.006, 0.011), 0.4 * st)
    m = int(rng.integers(3, 7))
    z1 = s.top - _u(rng, 0.005, 0.02)
    rail = _aabb((-xp, y - st / 2, z1 - rail_h), (xp, y + st / 2, z1))
    xs = np.linspace(-xp, xp, m + 2)[1:-1]
    zb = s.z - s.t / 2
    return [rail] + [_cyl(r, zb, z1 - rail_h / 2, x, y, sections=16) for x in xs]


def _chair_arms(rng: np.random.Generator, s: _Seat, bt: float) -> list[trimesh.Trimesh]:
    """Armrest bar on a front support, centred on each side edge of the seat.

    The bars stop short of the backrest so that no faces nearly coincide.
    """
    aw, at = _u(rng, 0.04, 0.06), _u(rng, 0.02, 0.035)
    ah = s.z + _u(rng, 0.18, 0.25)
    y0, y1 = -s.d / 2 + _u(rng, 0.01, 0.06), s.d / 2 - bt - 0.02
    rounded = bool(rng.random() < 0.5)
    parts = []
    for x in (-s.w / 2, s.w / 2):
        parts.append(_aabb((x - aw / 2, y0, ah - at), (x + aw / 2, y1, ah)))
        parts.append(
            _post(x, y0 + aw / 2, 0.8 * aw, s.z - s.t / 2, ah - at / 2, rounded)
        )
    return parts


# ---------------------------------------------------------------- table


def _table(rng: np.random.Generator) -> trimesh.Trimesh:
    top_z, tt = _u(rng, 0.70, 0.78), _u(rng, 0.02, 0.05)
    under = top_z - tt
    rect = bool(rng.random() < 0.6)
    if rect:
        w = _u(rng, 0.8, 1.8)
        d = _u(rng, 0.6, min(1.0, w))
        top = _aabb((-w / 2, -d / 2, under), (w / 2, d / 2, top_z))
        inset = _u(rng, 0.02, 0.08)
        leg_xy = (w / 2 - inset, d / 2 - inset)
        reach, pedestal_ok = min(w, d) / 2, w <= 1.2  # long tables keep their legs
    else:
        r = _u(rng, 0.35, 0.6)
        top = _cyl(r, under, top_z, sections=48)
        leg_xy = (r * _u(rng, 0.55, 0.75) / np.sqrt(2),) * 2
        reach, pedestal_ok = r, True
    if pedestal_ok and rng.random() < 0.35:
        support = _table_pedestal(rng, reach * _u(rng, 0.55, 0.85), under + tt / 2)
    else:
        support = _table_legs(rng, leg_xy, under, tt, apron=rect)
    return _union([top, *support])


def _table_legs(
    rng: np.random.Generator,
    xy: tuple[float, float],
    under: float,
    tt: float,
    apron: bool,
) -> list[trimesh.Trimesh]:
    """Four legs, optionally tied together by an apron under the top."""
    lt = _u(rng, 0.035, 0.07)
    x, y = xy[0] - lt / 2, xy[1] - lt / 2
    rounded = bool(rng.random() < 0.5)
    parts = [
        _post(sx * x, sy * y, lt, 0.0, under + tt / 2, rounded)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    if apron and rng.random() < 0.5:
        ah, at = _u(rng, 0.06, 0.1), 0.02
        z0, z1 = under - ah, under + EPS
        parts += [
            _aabb((-x, sy * y - at / 2, z0), (x, sy * y + at / 2, z1)) for sy in (-1, 1)
        ]
        z0 += GAP  # side rails sit higher than front/back rails: no shared bottom plane
        parts += [
            _aabb((sx * x - at / 2, -y, z0), (sx * x + at / 2, y, z1)) for sx in (-1, 1)
        ]
    return parts


def _table_pedestal(
    rng: np.random.Generator, reach: float, top: float
) -> list[trimesh.Trimesh]:
    """Central column on a disc or on 3-4 radial feet."""
    col_r = _u(rng, 0.035, 0.07)
    if rng.random() < 0.5:
        bt = _u(rng, 0.02, 0.04)
        base = [_cyl(reach, 0.0, bt, sections=48)]
        hub_r = 1.5 * col_r
    else:
        bt, fw, n = _u(rng, 0.03, 0.05), _u(rng, 0.05, 0.08), int(rng.integers(3, 5))
        phase = _u(rng, 0.0, np.pi)
        # the feet meet only inside the hub, never each other
        foot = _aabb((fw / 2 + GAP, -fw / 2, 0.0), (reach, fw / 2, bt))
        base = [
            foot.copy().apply_transform(_spin(phase + 2 * np.pi * i / n))
            for i in range(n)
        ]
        hub_r = max(1.5 * col_r, fw / 2 + 0.02)
    hub = _cyl(hub_r, GAP, bt + 0.05)
    return [*base, hub, _cyl(col_r, bt + 0.02, top)]


# ---------------------------------------------------------------- mug


def _mug(rng: np.random.Generator) -> trimesh.Trimesh:
    h, rb = _u(rng, 0.08, 0.12), _u(rng, 0.035, 0.05)
    rt = rb * _u(rng, 1.0, 1.2)
    wall, bottom = _u(rng, 0.003, 0.006), _u(rng, 0.005, 0.01)

    def radius(z: float) -> float:
        return rb + (rt - rb) * z / h

    body = _lathe([(0, 0), (rb, 0), (rt, h), (0, h)], sections=40)
    handle = _mug_handle(rng, h, radius, wall)
    z1 = h + 0.01
    cavity = _lathe(
        [
            (0, bottom),
            (radius(bottom) - wall, bottom),
            (radius(z1) - wall, z1),
            (0, z1),
        ],
        sections=40,
    )
    return _difference(_union([body, *handle]), cavity)


def _mug_handle(
    rng: np.random.Generator, h: float, radius: Callable[[float], float], wall: float
) -> list[trimesh.Trimesh]:
    """Torus-segment handle, or a squared loop made of three bars."""
    if rng.random() < 0.6:
        tube = _u(rng, 0.004, 0.007)
        zc = h * _u(rng, 0.45, 0.55)
        ring = _u(rng, 0.55, 0.85) * (min(zc, h - zc) - tube - 0.005)
        xc = radius(zc) + _u(rng, 0.0, 0.4) * ring
        pose = tf.translation_matrix((xc, 0.0, zc)) @ tf.rotation_matrix(
            np.pi / 2, X_AXIS
        )
        torus = trimesh.creation.torus(ring, tube, 32, 16, transform=pose)
        return [torus]
    at, aw, reach = _u(rng, 0.006, 0.01), _u(rng, 0.01, 0.016), _u(rng, 0.02, 0.035)
    z_top, z_bot = h * _u(rng, 0.75, 0.85), h * _u(rng, 0.2, 0.3)
    x_out = max(radius(z_top), radius(z_bot)) + reach
    arms = [
        _aabb(
            (radius(z) - wall / 2, -aw / 2, z - at / 2),
            (x_out - at / 2, aw / 2, z + at / 2),
        )
        for z in (z_top, z_bot)
    ]
    # the bar is thinner than the arms and ends at their centres: no shared faces
    bar = _aabb((x_out - at, -0.4 * aw, z_bot), (x_out, 0.4 * aw, z_top))
    return [*arms, bar]


# ---------------------------------------------------------------- bottle


def _bottle(rng: np.random.Generator) -> trimesh.Trimesh:
    h, rb, rn = _u(rng, 0.20, 0.30), _u(rng, 0.03, 0.045), _u(rng, 0.009, 0.016)
    capped = bool(rng.random() < 0.6)
    cap_h = _u(rng, 0.015, 0.025) if capped else _u(rng, 0.004, 0.008)
    rc = rn + (_u(rng, 0.001, 0.004) if capped else _u(rng, 0.001, 0.003))
    body_z, neck_len = h * _u(rng, 0.45, 0.6), h * _u(rng, 0.08, 0.18)
    neck = (rn, h - cap_h - neck_len, _u(rng, 1.0, 3.0))
    top = [(rn, h - cap_h), (rc, h - cap_h), (rc, h), (0.0, h)]
    if rng.random() < 0.25:  # rectangular body with a lathed shoulder on top
        depth = rb * _u(rng, 0.7, 1.0)
        box = _aabb((-rb, -depth, 0.0), (rb, depth, body_z))
        r0 = 0.92 * depth  # strictly inside the box's narrow side: no tangency
        base = [(0.0, body_z - 0.005), (r0, body_z - 0.005)]
        upper = _lathe([*base, *_shoulder(r0, body_z, *neck), *top])
        return _union([box, upper])
    fillet = _u(rng, 0.002, 0.006)
    waist = _u(rng, 0.03, 0.12) if rng.random() < 0.4 else 0.0
    t = np.linspace(0.0, 1.0, 7)
    body = np.column_stack(
        (rb * (1 - waist * np.sin(np.pi * t)), fillet + t * (body_z - fillet))
    )
    profile = [
        (0.0, 0.0),
        (rb - fillet, 0.0),
        *body[:-1],
        *_shoulder(rb, body_z, *neck),
        *top,
    ]
    return _lathe(profile, sections=40)


def _shoulder(r0: float, z0: float, rn: float, z1: float, q: float) -> np.ndarray:
    """Superelliptic taper from radius ``r0`` at ``z0`` to ``rn`` at ``z1``."""
    s = np.linspace(0.0, 1.0, 9)
    r = rn + (r0 - rn) * (1 - s**q) ** (1 / q)
    return np.column_stack((r, z0 + s * (z1 - z0)))


# ---------------------------------------------------------------- cabinet


class _Front(NamedTuple):
    y: float  # front face of the carcass (negative y)
    t: float  # front panel thickness
    handle: str  # "bar" or "knob"
    protrude: float  # handle protrusion


def _cabinet(rng: np.random.Generator) -> trimesh.Trimesh:
    w, d, h = _u(rng, 0.4, 1.0), _u(rng, 0.35, 0.6), _u(rng, 0.5, 1.9)
    base_kind = int(rng.integers(3))  # 0: none, 1: plinth, 2: legs
    base_h = (0.0, _u(rng, 0.05, 0.1), _u(rng, 0.08, 0.15))[base_kind]
    top_t = _u(rng, 0.015, 0.03) if rng.random() < 0.5 else 0.0
    body_top = h - top_t
    parts = [_aabb((-w / 2, -d / 2, base_h), (w / 2, d / 2, body_top))]
    parts += _cabinet_base(rng, base_kind, w, d, base_h)
    if top_t:
        o = _u(rng, GAP, 0.03)
        parts.append(
            _aabb((-w / 2 - o, -d / 2 - o, body_top - EPS), (w / 2 + o, d / 2 + o, h))
        )
    handle = ("bar", "knob")[int(rng.integers(2))]
    front = _Front(-d / 2, _u(rng, 0.012, 0.02), handle, _u(rng, 0.015, 0.03))
    m = _u(rng, 0.005, 0.02)
    parts += _cabinet_fronts(
        rng, front, (-w / 2 + m, w / 2 - m), (base_h + m, body_top - m)
    )
    return _union(parts)


def _cabinet_base(
    rng: np.random.Generator, kind: int, w: float, d: float, base_h: float
) -> list[trimesh.Trimesh]:
    if kind == 1:
        i = _u(rng, 0.01, 0.04)
        return [
            _aabb((-w / 2 + i, -d / 2 + i, 0.0), (w / 2 - i, d / 2 - i, base_h + EPS))
        ]
    if kind == 2:
        r, i = _u(rng, 0.012, 0.025), _u(rng, 0.03, 0.06) + GAP
        x, y = w / 2 - i, d / 2 - i
        return [
            _cyl(r, 0.0, base_h + EPS, sx * x, sy * y, 24)
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
    return []


def _cabinet_fronts(
    rng: np.random.Generator,
    f: _Front,
    xr: tuple[float, float],
    zr: tuple[float, float],
) -> list[trimesh.Trimesh]:
    """Drawer stack, doors, or one drawer row above doors."""
    layout = int(rng.integers(3))
    if layout == 0:
        return _drawers(f, xr, zr, int(rng.integers(2, 6)))
    n_doors = 1 if xr[1] - xr[0] < 0.55 else 2
    if layout == 1:
        return _doors(f, xr, zr, n_doors)
    split = zr[1] - min(_u(rng, 0.12, 0.2), (zr[1] - zr[0]) / 3)
    return _drawers(f, xr, (split, zr[1]), 1) + _doors(f, xr, (zr[0], split), n_doors)


def _drawers(
    f: _Front, xr: tuple[float, float], zr: tuple[float, float], n: int
) -> list[trimesh.Trimesh]:
    edges = np.linspace(zr[0], zr[1], n + 1)
    parts = []
    for z0, z1 in pairwise(edges):
        parts.append(_panel(f, xr, (z0, z1)))
        length = min(0.3 * (xr[1] - xr[0]), 0.16)
        parts.append(_handle(f, 0.0, (z0 + z1) / 2, length, vertical=False))
    return parts


def _doors(
    f: _Front, xr: tuple[float, float], zr: tuple[float, float], n: int
) -> list[trimesh.Trimesh]:
    edges = np.linspace(xr[0], xr[1], n + 1)
    length = min(0.3 * (zr[1] - zr[0]), 0.25)
    zc = zr[1] - min(0.15, (zr[1] - zr[0]) / 2)  # handle near the top of the door
    parts = []
    for i, (x0, x1) in enumerate(pairwise(edges)):
        parts.append(_panel(f, (x0, x1), zr))
        side = 1 if (n == 1 or i == 0) else -1  # handles near the meeting edge
        xh = x1 - 0.05 if side == 1 else x0 + 0.05
        parts.append(_handle(f, xh, zc, length, vertical=True))
    return parts


def _panel(
    f: _Front, xr: tuple[float, float], zr: tuple[float, float]
) -> trimesh.Trimesh:
    g = 0.0015  # half of the reveal between neighbouring fronts
    return _aabb((xr[0] + g, f.y + EPS, zr[0] + g), (xr[1] - g, f.y - f.t, zr[1] - g))


def _handle(
    f: _Front, x: float, z: float, length: float, vertical: bool
) -> trimesh.Trimesh:
    y0, y1 = f.y - f.t + EPS, f.y - f.t - f.protrude
    if f.handle == "knob":
        return _rod((x, y0, z), (x, y1, z), 0.011, sections=24)
    half = np.array([0.006, 0.0, length / 2] if vertical else [length / 2, 0.0, 0.006])
    return _aabb((x - half[0], y0, z - half[2]), (x + half[0], y1, z + half[2]))


# ---------------------------------------------------------------- lamp


def _lamp(rng: np.random.Generator) -> trimesh.Trimesh:
    if rng.random() < 0.4:  # floor lamp
        h, base_r, base_t = _u(rng, 1.4, 1.8), _u(rng, 0.12, 0.18), _u(rng, 0.02, 0.04)
        pole_r, rb, sh = _u(rng, 0.01, 0.016), _u(rng, 0.16, 0.24), _u(rng, 0.2, 0.32)
        rt = rb * _u(rng, 0.5, 0.9)
    else:  # desk lamp
        h, base_r, base_t = _u(rng, 0.35, 0.6), _u(rng, 0.06, 0.1), _u(rng, 0.015, 0.03)
        pole_r, rb, sh = _u(rng, 0.006, 0.01), _u(rng, 0.08, 0.14), _u(rng, 0.1, 0.18)
        rt = rb * _u(rng, 0.3, 0.8)
    base, base_top = _lamp_base(rng, base_r, base_t)
    hollow = bool(rng.random() < 0.7)
    st = _u(rng, 0.003, 0.005) if hollow else sh / 2
    anchor_z = h - st / 2  # pole ends inside the shade's top slab (or its middle)
    x_shade = 0.0
    parts = [base]
    if rng.random() < 0.4:  # bent arm: vertical pole, joint, slanted upper segment
        zj = base_top + (h - sh - base_top) * _u(rng, 0.5, 0.8)
        x_shade = _u(rng, 0.05, 0.15)
        joint = _superquadric((pole_r * 1.6,) * 3, 1.0, 1.0, (0, 0, zj), subdivisions=2)
        parts += [
            _cyl(pole_r, base_top - EPS, zj, sections=24),
            joint,
            _rod((0, 0, zj), (x_shade, 0, anchor_z), pole_r),
        ]
    else:
        parts.append(_cyl(pole_r, base_top - EPS, anchor_z, sections=24))
    parts.append(_lamp_shade(rb, rt, sh, h, st if hollow else None, x_shade))
    if hollow and rng.random() < 0.6:
        br = min(0.6 * rt, 0.4 * sh, _u(rng, 0.02, 0.035))
        center = (x_shade, 0.0, h - st / 2 - br)  # top of the bulb inside the slab
        parts.append(_superquadric((br,) * 3, 1.0, 1.0, center, subdivisions=2))
    return _union(parts)


def _lamp_base(
    rng: np.random.Generator, r: float, t: float
) -> tuple[trimesh.Trimesh, float]:
    """Disc, square plate or dome base; returns (mesh, top height)."""
    kind = int(rng.integers(3))
    if kind == 0:
        return _cyl(r, 0.0, t, sections=40), t
    if kind == 1:
        a = r * 0.9
        return _aabb((-a, -a, 0.0), (a, a, t)), t
    s = np.linspace(0.0, np.pi / 2, 8)
    dome = np.column_stack((r * np.cos(s), t * 0.4 + t * 1.2 * np.sin(s)))
    return _lathe([(0.0, 0.0), (r, 0.0), *dome], sections=40), t * 1.6


def _lamp_shade(
    rb: float, rt: float, sh: float, h: float, wall: float | None, x: float
) -> trimesh.Trimesh:
    """Frustum shade with its top at ``h``; open-bottom shell when ``wall`` is set."""
    z0 = h - sh
    if wall is None:
        profile = [(0.0, z0), (rb, z0), (rt, h), (0.0, h)]
    else:
        profile = [
            (0.0, h - wall),
            (rt - wall, h - wall),
            (rb - wall, z0),
            (rb, z0),
            (rt, h),
            (0.0, h),
        ]
    return _lathe(profile, sections=48).apply_translation((x, 0.0, 0.0))


# ---------------------------------------------------------------- bowl


def _bowl(rng: np.random.Generator) -> trimesh.Trimesh:
    """Hollow lathed bowl (optionally with a foot ring) - no boolean needed."""
    r_rim = _u(rng, 0.06, 0.15)
    h = float(np.clip(r_rim * _u(rng, 0.4, 0.8), 0.04, 0.12))
    rb, t, k = r_rim * _u(rng, 0.35, 0.6), _u(rng, 0.003, 0.006), _u(rng, 1.3, 2.5)
    s = np.linspace(0.0, 1.0, 12)
    outer_r = rb + (r_rim - rb) * s
    if rng.random() < 0.5:
        fh, rf = _u(rng, 0.004, 0.01), rb * _u(rng, 0.75, 0.9)
        base = [(0.0, fh), (rf, fh), (rf, 0.0)]
    else:
        fh, base = 0.0, [(0.0, 0.0)]
    zb = fh + t  # inner floor height
    outer = np.column_stack((outer_r, h * s**k))
    inner = np.column_stack((outer_r - t, zb + (h - zb) * s**k))[::-1]
    profile = [*base, *outer, *inner, (0.0, zb)]
    return _lathe(profile, sections=48)


# ---------------------------------------------------------------- monitor


def _monitor(rng: np.random.Generator) -> trimesh.Trimesh:
    w = _u(rng, 0.45, 0.75)
    sh = w / (16 / 9, 16 / 10, 21 / 9)[int(rng.integers(3))]
    st, hd = _u(rng, 0.008, 0.02), _u(rng, 0.025, 0.06)
    base, base_t = _monitor_base(rng)
    zc = base_t + _u(rng, 0.05, 0.15) + sh / 2
    hw, hh = w * _u(rng, 0.4, 0.8), sh * _u(rng, 0.4, 0.7)
    pivot = np.array([0.0, st / 2 + hd / 2, zc + _u(rng, -0.1, 0.1) * sh])
    screen = [
        _aabb((-w / 2, -st / 2, zc - sh / 2), (w / 2, st / 2, zc + sh / 2)),
        _aabb(
            (-hw / 2, st / 2 - EPS, pivot[2] - hh / 2),
            (hw / 2, st / 2 + hd, pivot[2] + hh / 2),
        ),
    ]
    screen = _rotated(
        screen, tf.rotation_matrix(-_u(rng, 0.0, np.radians(10)), X_AXIS, pivot)
    )
    if rng.random() < 0.5:
        # the neck is thinner than the housing: no nearly coincident faces
        nw, nd = _u(rng, 0.03, 0.07), hd * _u(rng, 0.4, 0.7)
        lo, hi = (
            (-nw / 2, pivot[1] - nd / 2, base_t / 2),
            (nw / 2, pivot[1] + nd / 2, pivot[2]),
        )
        neck = _aabb(lo, hi)
    else:
        neck = _cyl(
            hd * _u(rng, 0.3, 0.4), base_t / 2, pivot[2], 0.0, pivot[1], sections=24
        )
    return _union([base.apply_translation((0.0, pivot[1], 0.0)), neck, *screen])


def _monitor_base(rng: np.random.Generator) -> tuple[trimesh.Trimesh, float]:
    """Rectangular plate or disc centred at the origin; returns (mesh, thickness)."""
    bt = _u(rng, 0.008, 0.02)
    if rng.random() < 0.5:
        bw, bd = _u(rng, 0.18, 0.3), _u(rng, 0.14, 0.22)
        return _aabb((-bw / 2, -bd / 2, 0.0), (bw / 2, bd / 2, bt)), bt
    return _cyl(_u(rng, 0.08, 0.13), 0.0, bt, sections=40), bt


# ---------------------------------------------------------------- sofa


class _Sofa(NamedTuple):
    w: float
    d: float
    h: float
    arm_w: float  # 0 when armless
    back_d: float
    base_top: float


def _sofa(rng: np.random.Generator) -> trimesh.Trimesh:
    w, d, h = _u(rng, 1.6, 2.4), _u(rng, 0.8, 1.0), _u(rng, 0.75, 0.95)
    feet_h = _u(rng, 0.03, 0.12) if rng.random() < 0.6 else 0.0
    s = _Sofa(
        w,
        d,
        h,
        arm_w=_u(rng, 0.1, 0.25) if rng.random() < 0.85 else 0.0,
        back_d=_u(rng, 0.15, 0.25),
        base_top=_u(rng, 0.28, 0.36),
    )
    # with arms, base and back end inside them; otherwise faces are set back by GAP
    xb = w / 2 - s.arm_w / 2 if s.arm_w else w / 2
    yb = d / 2 - GAP if s.arm_w else d / 2
    xk = xb if s.arm_w else w / 2 - GAP
    parts = [
        _aabb((-xb, -yb, feet_h), (xb, yb, s.base_top)),
        _aabb((-xk, d / 2 - s.back_d, s.base_top - 0.01), (xk, yb - GAP, h)),
    ]
    if feet_h:
        fs, i = _u(rng, 0.04, 0.06), _u(rng, 0.04, 0.08)
        x, y, rounded = xb - i, yb - i, bool(rng.random() < 0.5)
        parts += [
            _post(sx * x, sy * y, fs, 0.0, feet_h + 0.01, rounded)
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
    if s.arm_w:
        parts += _sofa_arms(rng, s, feet_h + GAP)
    parts += _sofa_cushions(rng, s)
    return _union(parts)


def _sofa_arms(rng: np.random.Generator, s: _Sofa, z0: float) -> list[trimesh.Trimesh]:
    """Box arms, optionally topped by a slightly wider round roll."""
    ah, aw = min(_u(rng, 0.55, 0.7), s.h - 0.05), s.arm_w
    rounded = bool(rng.random() < 0.5)
    box_top = ah - aw / 2 if rounded else ah
    parts = []
    for sx in (-1, 1):
        xc = sx * (s.w / 2 - aw / 2)
        parts.append(
            _aabb((xc - aw / 2, -s.d / 2, z0), (xc + aw / 2, s.d / 2, box_top))
        )
        if rounded:
            # radius > half width: the roll crosses the box sides, never grazes them
            ends = ((xc, -s.d / 2 + GAP, box_top), (xc, s.d / 2 - GAP, box_top))
            parts.append(_rod(*ends, aw / 2 + GAP, sections=32))
    return parts


def _sofa_cushions(rng: np.random.Generator, s: _Sofa) -> list[trimesh.Trimesh]:
    """Rounded seat cushions on the base and (optionally) back cushions.

    Cushions are separated by a seam and sink 1-2 cm into arms, base and back;
    back cushions are narrower so that no cushion faces line up.
    """
    n = int(rng.integers(1, 4))
    inner = s.w - 2 * s.arm_w + (0.02 if s.arm_w else -0.04)
    seam = _u(rng, 0.004, 0.01)
    cw, ct = inner / n - seam, _u(rng, 0.1, 0.16)
    y0, y1 = -s.d / 2 - _u(rng, 0.008, 0.02), s.d / 2 - s.back_d + 0.01
    xs = -inner / 2 + (inner / n) * (np.arange(n) + 0.5)
    zc = s.base_top + ct / 2 - 0.01
    rounding = _u(rng, 0.3, 0.9)
    parts = [
        _rounded_box((cw, y1 - y0, ct), (x, (y0 + y1) / 2, zc), rounding) for x in xs
    ]
    if rng.random() < 0.8:
        bt = _u(rng, 0.12, 0.2)
        z_lo, z_hi = s.base_top + ct - 0.03, s.h - _u(rng, 0.01, 0.08)
        yc = s.d / 2 - s.back_d - bt / 2 + 0.02
        # narrower than the seat cushions so that their sides never line up
        size = (cw - 0.01, bt, z_hi - z_lo)
        parts += [_rounded_box(size, (x, yc, (z_lo + z_hi) / 2), rounding) for x in xs]
    return parts


# ---------------------------------------------------------------- shelf


def _shelf(rng: np.random.Generator) -> trimesh.Trimesh:
    """Bookcase: side panels (or four posts), 2-5 boards, optional back and kick."""
    w, d, h = _u(rng, 0.6, 1.2), _u(rng, 0.25, 0.4), _u(rng, 0.8, 2.0)
    bt = _u(rng, 0.015, 0.03)
    posts = bool(rng.random() < 0.3)
    z_lo = _u(rng, 0.04, 0.1) if rng.random() < 0.5 else GAP
    z_top = h - GAP if rng.random() < 0.6 else h - _u(rng, 0.05, 0.2)
    if posts:
        pr, rounded = _u(rng, 0.015, 0.025), bool(rng.random() < 0.5)
        x, y = w / 2 - pr, d / 2 - pr
        frame = [
            _post(sx * x, sy * y, 2 * pr, 0.0, h, rounded)
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
        x_board, x_back = x, x - GAP
    else:
        side = _u(rng, 0.015, 0.03)
        frame = [
            _aabb((sx * w / 2, -d / 2, 0.0), (sx * (w / 2 - side), d / 2, h))
            for sx in (-1, 1)
        ]
        x_board, x_back = w / 2 - side + EPS, w / 2 - side + 2 * EPS
    zs = np.linspace(z_lo, z_top - bt, int(rng.integers(2, 6)))
    y_back = d / 2 - 2 * GAP  # boards end inside the back panel
    parts = frame + [
        _aabb((-x_board, -d / 2 + GAP, z), (x_board, y_back, z + bt)) for z in zs
    ]
    if not posts and z_lo > GAP and rng.random() < 0.7:
        # kick board under the bottom shelf
        y = -d / 2 + 0.01
        parts.append(_aabb((-x_board, y, GAP), (x_board, y + bt, z_lo + EPS)))
    if rng.random() < 0.6:  # thin back panel
        pt = _u(rng, 0.004, 0.01)
        lo, hi = (
            (-x_back, d / 2 - GAP - pt, z_lo + GAP),
            (x_back, d / 2 - GAP, z_top - GAP),
        )
        parts.append(_aabb(lo, hi))
    return _union(parts)


# ---------------------------------------------------------------- free-form


def _random_primitive(rng: np.random.Generator, kinds: int = 5) -> trimesh.Trimesh:
    """Box, cylinder, superquadric, lathed solid or extrusion (unit scale).

    The result is centred on its bounding-box centre, which lies inside it, and
    randomly rotated.
    """
    kind = int(rng.integers(kinds))
    if kind == 0:
        mesh = trimesh.creation.box(extents=rng.uniform(0.2, 1.0, 3))
    elif kind == 1:
        mesh = trimesh.creation.cylinder(
            _u(rng, 0.1, 0.5), _u(rng, 0.2, 1.0), sections=32
        )
    elif kind == 2:
        radii = rng.uniform(0.1, 0.5, 3)
        mesh = _superquadric(radii, _u(rng, 0.25, 1.6), _u(rng, 0.25, 1.6))
    elif kind == 3:
        n = int(rng.integers(3, 7))
        zs = np.sort(rng.uniform(0.0, 1.0, n)) * _u(rng, 0.3, 1.0)
        rs = rng.uniform(0.1, 0.5, n)
        mesh = _lathe([(0.0, zs[0]), *zip(rs, zs), (0.0, zs[-1])], sections=32)
    else:
        n = int(rng.integers(5, 10))
        ang = 2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n
        rad = _u(rng, 0.2, 0.5) * rng.uniform(0.5, 1.0, n)
        poly = np.column_stack((rad * np.cos(ang), rad * np.sin(ang)))
        mesh = _extrude(poly, _u(rng, 0.1, 0.6), taper=_u(rng, 0.5, 1.0))
    mesh.apply_translation(-mesh.bounds.mean(axis=0))
    return mesh.apply_transform(tf.random_rotation_matrix(rand=rng.random(3)))


def _freeform(rng: np.random.Generator) -> trimesh.Trimesh:
    """2-5 primitives, each centred on a surface vertex of an earlier one."""
    parts = [_random_primitive(rng)]
    for _ in range(int(rng.integers(1, 5))):
        anchor = parts[int(rng.integers(len(parts)))]
        vertex = anchor.vertices[int(rng.integers(len(anchor.vertices)))]
        parts.append(_random_primitive(rng).apply_translation(vertex))
    mesh = _union(parts)
    if rng.random() < 0.4:
        mesh = _try_cut(rng, mesh)
    size = float(np.exp(rng.uniform(np.log(0.1), np.log(1.0))))
    return mesh.apply_scale(size / mesh.extents.max())


def _try_cut(rng: np.random.Generator, mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Subtract a small primitive at a surface vertex; keep it only if robust."""
    cutter = _random_primitive(rng, kinds=3)
    cutter.apply_scale(mesh.extents.min() * _u(rng, 0.3, 0.6) / cutter.extents.max())
    cutter.apply_translation(mesh.vertices[int(rng.integers(len(mesh.vertices)))])
    try:
        cut = _difference(mesh, cutter)
    except _BUILD_ERRORS:
        return mesh
    return cut if _is_valid(cut) and cut.volume > 0.5 * mesh.volume else mesh


# ---------------------------------------------------------------- public API

_BUILDERS: dict[str, Builder] = {
    "chair": _chair,
    "table": _table,
    "mug": _mug,
    "bottle": _bottle,
    "cabinet": _cabinet,
    "lamp": _lamp,
    "bowl": _bowl,
    "monitor": _monitor,
    "sofa": _sofa,
    "shelf": _shelf,
    FREEFORM: _freeform,
}


def _is_valid(mesh: trimesh.Trimesh) -> bool:
    """Single, watertight, positively oriented volume."""
    return (
        len(mesh.faces) > 0
        and bool(np.isfinite(mesh.vertices).all())
        and mesh.is_watertight
        and mesh.is_volume
        and mesh.body_count == 1
    )


def _finalise(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Merge vertices, then rest on z = 0 and centre the x/y bounding box."""
    out = trimesh.Trimesh(np.asarray(mesh.vertices, dtype=np.float64), mesh.faces)
    lo, hi = out.bounds
    out.apply_translation((-(lo[0] + hi[0]) / 2, -(lo[1] + hi[1]) / 2, -lo[2]))
    return out


def make_shape(category: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Generate one watertight mesh of ``category`` (or ``FREEFORM``) from ``rng``.

    Raises ValueError for an unknown category and RuntimeError if no valid mesh
    came out of ``MAX_ATTEMPTS`` draws.
    """
    builder = _BUILDERS.get(category)
    if builder is None:
        valid = ", ".join((*CATEGORIES, FREEFORM))
        raise ValueError(f"unknown category {category!r}; valid categories: {valid}")
    error: Exception | None = None
    for _ in range(MAX_ATTEMPTS):
        try:
            mesh = _finalise(builder(rng))
        except _BUILD_ERRORS as exc:  # a failed boolean: redraw from the same rng
            error = exc
            continue
        if _is_valid(mesh):
            return mesh
    raise RuntimeError(
        f"could not build a watertight {category!r} in {MAX_ATTEMPTS} attempts"
    ) from error


def make_shape_by_seed(category: str, seed: int) -> trimesh.Trimesh:
    """``make_shape`` with ``numpy.random.default_rng(seed)``."""
    return make_shape(category, np.random.default_rng(seed))
