"""Furniture families: chair, table, sofa."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import trimesh
from trimesh import transformations as tf

from occnet_ros.shapes.primitives import EPS, GAP, X_AXIS, aabb, cyl, post, rod, rotated, rounded_box, spin, uniform, union

# ---------------------------------------------------------------- chair


class _Seat(NamedTuple):
    w: float  # width (x)
    d: float  # depth (y)
    z: float  # top surface height
    t: float  # thickness
    top: float  # overall chair height


def chair(rng: np.random.Generator) -> trimesh.Trimesh:
    s = _Seat(
        w=uniform(rng, 0.40, 0.55),
        d=uniform(rng, 0.40, 0.52),
        z=uniform(rng, 0.42, 0.48),
        t=uniform(rng, 0.03, 0.07),
        top=uniform(rng, 0.80, 1.00),
    )
    seat = aabb((-s.w / 2, -s.d / 2, s.z - s.t), (s.w / 2, s.d / 2, s.z))
    back_t = uniform(rng, 0.02, 0.04)
    parts = [seat, *_chair_base(rng, s), *_chair_back(rng, s, back_t)]
    if rng.random() < 0.4:
        parts += _chair_arms(rng, s, back_t)
    return union(parts)


def _chair_base(rng: np.random.Generator, s: _Seat) -> list[trimesh.Trimesh]:
    """Four box/cylinder legs (optional stretchers) or an office-chair star base."""
    if rng.random() < 0.3:
        return _star_base(rng, s.z - s.t / 2)
    lt, inset = uniform(rng, 0.025, 0.05), uniform(rng, GAP, 0.04)
    x, y = s.w / 2 - inset - lt / 2, s.d / 2 - inset - lt / 2
    rounded = bool(rng.random() < 0.5)
    top = s.z - s.t / 2
    parts = [
        post(sx * x, sy * y, lt, 0.0, top, rounded) for sx in (-1, 1) for sy in (-1, 1)
    ]
    if rng.random() < 0.4:
        zs, rt = uniform(rng, 0.1, 0.2), lt * 0.6
        parts += [
            aabb((sx * x - rt / 2, -y, zs - rt / 2), (sx * x + rt / 2, y, zs + rt / 2))
            for sx in (-1, 1)
        ]
    return parts


def _star_base(rng: np.random.Generator, top: float) -> list[trimesh.Trimesh]:
    """Central column on 4-5 spokes, each ending in a caster."""
    n = int(rng.integers(4, 6))
    length, caster_h = uniform(rng, 0.24, 0.32), uniform(rng, 0.03, 0.06)
    spoke_h, spoke_w = uniform(rng, 0.025, 0.04), uniform(rng, 0.03, 0.045)
    caster_r = spoke_w / 2 + uniform(rng, 0.004, 0.01)
    pole_r = uniform(rng, 0.02, 0.03)
    hub_r = max(1.6 * pole_r, spoke_w / 2 + 0.02)
    phase = uniform(rng, 0.0, 2 * np.pi / n)
    z0 = caster_h
    parts = [
        cyl(pole_r, z0 + spoke_h / 2, top),
        cyl(hub_r, z0 + GAP, z0 + spoke_h + 0.03),
    ]
    x0 = spoke_w / 2 + GAP  # spokes meet only inside the hub, never each other
    for i in range(n):
        rot = spin(phase + 2 * np.pi * i / n)
        spoke = aabb((x0, -spoke_w / 2, z0), (length, spoke_w / 2, z0 + spoke_h))
        caster = cyl(
            caster_r, 0.0, z0 + spoke_h / 2, x=length - caster_r - GAP, sections=24
        )
        parts += rotated([spoke, caster], rot)
    return parts


def _chair_back(rng: np.random.Generator, s: _Seat, bt: float) -> list[trimesh.Trimesh]:
    """Solid panel, slats between posts, or spindles under a top rail; tilted."""
    y, z0 = s.d / 2 - bt / 2 - GAP, s.z - s.t / 2
    style = int(rng.integers(3))
    if style == 0:
        bw = s.w * uniform(rng, 0.8, 0.97)
        parts = [aabb((-bw / 2, y - bt / 2, z0), (bw / 2, y + bt / 2, s.top))]
    else:
        pt = uniform(rng, 0.025, 0.045)
        xp = s.w / 2 - pt / 2 - GAP
        rounded = bool(rng.random() < 0.4)
        parts = [post(sx * xp, y, pt, z0, s.top, rounded) for sx in (-1, 1)]
        fill = _back_slats if style == 1 else _back_spindles
        parts += fill(rng, s, xp, y, 0.6 * pt)
    tilt = tf.rotation_matrix(-uniform(rng, 0.0, np.radians(12)), X_AXIS, (0.0, y, s.z))
    return rotated(parts, tilt)


def _back_slats(
    rng: np.random.Generator, s: _Seat, xp: float, y: float, st: float
) -> list[trimesh.Trimesh]:
    """1-4 horizontal slats of thickness ``st`` spanning the two posts."""
    n = int(rng.integers(1, 5))
    z_lo, z_hi = s.z + uniform(rng, 0.08, 0.2), s.top - uniform(rng, 0.005, 0.03)
    span = z_hi - z_lo
    h = (
        span * uniform(rng, 0.4, 0.8)
        if n == 1
        else min(uniform(rng, 0.03, 0.08), span / (1.5 * n))
    )
    centers = [z_hi - h / 2] if n == 1 else np.linspace(z_lo + h / 2, z_hi - h / 2, n)
    return [
        aabb((-xp, y - st / 2, zc - h / 2), (xp, y + st / 2, zc + h / 2))
        for zc in centers
    ]


def _back_spindles(
    rng: np.random.Generator, s: _Seat, xp: float, y: float, st: float
) -> list[trimesh.Trimesh]:
    """Top rail of thickness ``st`` carried by 3-6 round spindles."""
    rail_h = uniform(rng, 0.04, 0.08)
    r = min(uniform(rng, 0.006, 0.011), 0.4 * st)
    m = int(rng.integers(3, 7))
    z1 = s.top - uniform(rng, 0.005, 0.02)
    rail = aabb((-xp, y - st / 2, z1 - rail_h), (xp, y + st / 2, z1))
    xs = np.linspace(-xp, xp, m + 2)[1:-1]
    zb = s.z - s.t / 2
    return [rail] + [cyl(r, zb, z1 - rail_h / 2, x, y, sections=16) for x in xs]


def _chair_arms(rng: np.random.Generator, s: _Seat, bt: float) -> list[trimesh.Trimesh]:
    """Armrest bar on a front support, centred on each side edge of the seat.

    The bars stop short of the backrest so that no faces nearly coincide.
    """
    aw, at = uniform(rng, 0.04, 0.06), uniform(rng, 0.02, 0.035)
    ah = s.z + uniform(rng, 0.18, 0.25)
    y0, y1 = -s.d / 2 + uniform(rng, 0.01, 0.06), s.d / 2 - bt - 0.02
    rounded = bool(rng.random() < 0.5)
    parts = []
    for x in (-s.w / 2, s.w / 2):
        parts.append(aabb((x - aw / 2, y0, ah - at), (x + aw / 2, y1, ah)))
        parts.append(
            post(x, y0 + aw / 2, 0.8 * aw, s.z - s.t / 2, ah - at / 2, rounded)
        )
    return parts


# ---------------------------------------------------------------- table


def table(rng: np.random.Generator) -> trimesh.Trimesh:
    top_z, tt = uniform(rng, 0.70, 0.78), uniform(rng, 0.02, 0.05)
    under = top_z - tt
    rect = bool(rng.random() < 0.6)
    if rect:
        w = uniform(rng, 0.8, 1.8)
        d = uniform(rng, 0.6, min(1.0, w))
        top = aabb((-w / 2, -d / 2, under), (w / 2, d / 2, top_z))
        inset = uniform(rng, 0.02, 0.08)
        leg_xy = (w / 2 - inset, d / 2 - inset)
        reach, pedestal_ok = min(w, d) / 2, w <= 1.2  # long tables keep their legs
    else:
        r = uniform(rng, 0.35, 0.6)
        top = cyl(r, under, top_z, sections=48)
        leg_xy = (r * uniform(rng, 0.55, 0.75) / np.sqrt(2),) * 2
        reach, pedestal_ok = r, True
    if pedestal_ok and rng.random() < 0.35:
        support = _table_pedestal(rng, reach * uniform(rng, 0.55, 0.85), under + tt / 2)
    else:
        support = _table_legs(rng, leg_xy, under, tt, apron=rect)
    return union([top, *support])


def _table_legs(
    rng: np.random.Generator,
    xy: tuple[float, float],
    under: float,
    tt: float,
    apron: bool,
) -> list[trimesh.Trimesh]:
    """Four legs, optionally tied together by an apron under the top."""
    lt = uniform(rng, 0.035, 0.07)
    x, y = xy[0] - lt / 2, xy[1] - lt / 2
    rounded = bool(rng.random() < 0.5)
    parts = [
        post(sx * x, sy * y, lt, 0.0, under + tt / 2, rounded)
        for sx in (-1, 1)
        for sy in (-1, 1)
    ]
    if apron and rng.random() < 0.5:
        ah, at = uniform(rng, 0.06, 0.1), 0.02
        z0, z1 = under - ah, under + EPS
        parts += [
            aabb((-x, sy * y - at / 2, z0), (x, sy * y + at / 2, z1)) for sy in (-1, 1)
        ]
        z0 += GAP  # side rails sit higher than front/back rails: no shared bottom plane
        parts += [
            aabb((sx * x - at / 2, -y, z0), (sx * x + at / 2, y, z1)) for sx in (-1, 1)
        ]
    return parts


def _table_pedestal(
    rng: np.random.Generator, reach: float, top: float
) -> list[trimesh.Trimesh]:
    """Central column on a disc or on 3-4 radial feet."""
    col_r = uniform(rng, 0.035, 0.07)
    if rng.random() < 0.5:
        bt = uniform(rng, 0.02, 0.04)
        base = [cyl(reach, 0.0, bt, sections=48)]
        hub_r = 1.5 * col_r
    else:
        bt, fw, n = uniform(rng, 0.03, 0.05), uniform(rng, 0.05, 0.08), int(rng.integers(3, 5))
        phase = uniform(rng, 0.0, np.pi)
        # the feet meet only inside the hub, never each other
        foot = aabb((fw / 2 + GAP, -fw / 2, 0.0), (reach, fw / 2, bt))
        base = [
            foot.copy().apply_transform(spin(phase + 2 * np.pi * i / n))
            for i in range(n)
        ]
        hub_r = max(1.5 * col_r, fw / 2 + 0.02)
    hub = cyl(hub_r, GAP, bt + 0.05)
    return [*base, hub, cyl(col_r, bt + 0.02, top)]


# ---------------------------------------------------------------- sofa


class _Sofa(NamedTuple):
    w: float
    d: float
    h: float
    arm_w: float  # 0 when armless
    back_d: float
    base_top: float


def sofa(rng: np.random.Generator) -> trimesh.Trimesh:
    w, d, h = uniform(rng, 1.6, 2.4), uniform(rng, 0.8, 1.0), uniform(rng, 0.75, 0.95)
    feet_h = uniform(rng, 0.03, 0.12) if rng.random() < 0.6 else 0.0
    s = _Sofa(
        w,
        d,
        h,
        arm_w=uniform(rng, 0.1, 0.25) if rng.random() < 0.85 else 0.0,
        back_d=uniform(rng, 0.15, 0.25),
        base_top=uniform(rng, 0.28, 0.36),
    )
    # with arms, base and back end inside them; otherwise faces are set back by GAP
    xb = w / 2 - s.arm_w / 2 if s.arm_w else w / 2
    yb = d / 2 - GAP if s.arm_w else d / 2
    xk = xb if s.arm_w else w / 2 - GAP
    parts = [
        aabb((-xb, -yb, feet_h), (xb, yb, s.base_top)),
        aabb((-xk, d / 2 - s.back_d, s.base_top - 0.01), (xk, yb - GAP, h)),
    ]
    if feet_h:
        fs, i = uniform(rng, 0.04, 0.06), uniform(rng, 0.04, 0.08)
        x, y, rounded = xb - i, yb - i, bool(rng.random() < 0.5)
        parts += [
            post(sx * x, sy * y, fs, 0.0, feet_h + 0.01, rounded)
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
    if s.arm_w:
        parts += _sofa_arms(rng, s, feet_h + GAP)
    parts += _sofa_cushions(rng, s)
    return union(parts)


def _sofa_arms(rng: np.random.Generator, s: _Sofa, z0: float) -> list[trimesh.Trimesh]:
    """Box arms, optionally topped by a slightly wider round roll."""
    ah, aw = min(uniform(rng, 0.55, 0.7), s.h - 0.05), s.arm_w
    rounded = bool(rng.random() < 0.5)
    box_top = ah - aw / 2 if rounded else ah
    parts = []
    for sx in (-1, 1):
        xc = sx * (s.w / 2 - aw / 2)
        parts.append(
            aabb((xc - aw / 2, -s.d / 2, z0), (xc + aw / 2, s.d / 2, box_top))
        )
        if rounded:
            # radius > half width: the roll crosses the box sides, never grazes them
            ends = ((xc, -s.d / 2 + GAP, box_top), (xc, s.d / 2 - GAP, box_top))
            parts.append(rod(*ends, aw / 2 + GAP, sections=32))
    return parts


def _sofa_cushions(rng: np.random.Generator, s: _Sofa) -> list[trimesh.Trimesh]:
    """Rounded seat cushions on the base and (optionally) back cushions.

    Cushions are separated by a seam and sink 1-2 cm into arms, base and back;
    back cushions are narrower so that no cushion faces line up.
    """
    n = int(rng.integers(1, 4))
    inner = s.w - 2 * s.arm_w + (0.02 if s.arm_w else -0.04)
    seam = uniform(rng, 0.004, 0.01)
    cw, ct = inner / n - seam, uniform(rng, 0.1, 0.16)
    y0, y1 = -s.d / 2 - uniform(rng, 0.008, 0.02), s.d / 2 - s.back_d + 0.01
    xs = -inner / 2 + (inner / n) * (np.arange(n) + 0.5)
    zc = s.base_top + ct / 2 - 0.01
    rounding = uniform(rng, 0.3, 0.9)
    parts = [
        rounded_box((cw, y1 - y0, ct), (x, (y0 + y1) / 2, zc), rounding) for x in xs
    ]
    if rng.random() < 0.8:
        bt = uniform(rng, 0.12, 0.2)
        z_lo, z_hi = s.base_top + ct - 0.03, s.h - uniform(rng, 0.01, 0.08)
        yc = s.d / 2 - s.back_d - bt / 2 + 0.02
        # narrower than the seat cushions so that their sides never line up
        size = (cw - 0.01, bt, z_hi - z_lo)
        parts += [rounded_box(size, (x, yc, (z_lo + z_hi) / 2), rounding) for x in xs]
    return parts
