"""Household families: mug, bottle, lamp, bowl, monitor."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh
from trimesh import transformations as tf

from occnet_ros.shapes.primitives import EPS, X_AXIS, aabb, cyl, difference, lathe, rod, rotated, superquadric, uniform, union

# ---------------------------------------------------------------- mug


def mug(rng: np.random.Generator) -> trimesh.Trimesh:
    h, rb = uniform(rng, 0.08, 0.12), uniform(rng, 0.035, 0.05)
    rt = rb * uniform(rng, 1.0, 1.2)
    wall, bottom = uniform(rng, 0.003, 0.006), uniform(rng, 0.005, 0.01)

    def radius(z: float) -> float:
        return rb + (rt - rb) * z / h

    body = lathe([(0, 0), (rb, 0), (rt, h), (0, h)], sections=40)
    handle = _mug_handle(rng, h, radius, wall)
    z1 = h + 0.01
    cavity = lathe(
        [
            (0, bottom),
            (radius(bottom) - wall, bottom),
            (radius(z1) - wall, z1),
            (0, z1),
        ],
        sections=40,
    )
    return difference(union([body, *handle]), cavity)


def _mug_handle(
    rng: np.random.Generator, h: float, radius: Callable[[float], float], wall: float
) -> list[trimesh.Trimesh]:
    """Torus-segment handle, or a squared loop made of three bars."""
    if rng.random() < 0.6:
        tube = uniform(rng, 0.004, 0.007)
        zc = h * uniform(rng, 0.45, 0.55)
        ring = uniform(rng, 0.55, 0.85) * (min(zc, h - zc) - tube - 0.005)
        xc = radius(zc) + uniform(rng, 0.0, 0.4) * ring
        pose = tf.translation_matrix((xc, 0.0, zc)) @ tf.rotation_matrix(
            np.pi / 2, X_AXIS
        )
        torus = trimesh.creation.torus(ring, tube, 32, 16, transform=pose)
        return [torus]
    at, aw, reach = uniform(rng, 0.006, 0.01), uniform(rng, 0.01, 0.016), uniform(rng, 0.02, 0.035)
    z_top, z_bot = h * uniform(rng, 0.75, 0.85), h * uniform(rng, 0.2, 0.3)
    x_out = max(radius(z_top), radius(z_bot)) + reach
    arms = [
        aabb(
            (radius(z) - wall / 2, -aw / 2, z - at / 2),
            (x_out - at / 2, aw / 2, z + at / 2),
        )
        for z in (z_top, z_bot)
    ]
    # the bar is thinner than the arms and ends at their centres: no shared faces
    bar = aabb((x_out - at, -0.4 * aw, z_bot), (x_out, 0.4 * aw, z_top))
    return [*arms, bar]


# ---------------------------------------------------------------- bottle


def bottle(rng: np.random.Generator) -> trimesh.Trimesh:
    h, rb, rn = uniform(rng, 0.20, 0.30), uniform(rng, 0.03, 0.045), uniform(rng, 0.009, 0.016)
    capped = bool(rng.random() < 0.6)
    cap_h = uniform(rng, 0.015, 0.025) if capped else uniform(rng, 0.004, 0.008)
    rc = rn + (uniform(rng, 0.001, 0.004) if capped else uniform(rng, 0.001, 0.003))
    body_z, neck_len = h * uniform(rng, 0.45, 0.6), h * uniform(rng, 0.08, 0.18)
    neck = (rn, h - cap_h - neck_len, uniform(rng, 1.0, 3.0))
    top = [(rn, h - cap_h), (rc, h - cap_h), (rc, h), (0.0, h)]
    if rng.random() < 0.25:  # rectangular body with a lathed shoulder on top
        depth = rb * uniform(rng, 0.7, 1.0)
        box = aabb((-rb, -depth, 0.0), (rb, depth, body_z))
        r0 = 0.92 * depth  # strictly inside the box's narrow side: no tangency
        base = [(0.0, body_z - 0.005), (r0, body_z - 0.005)]
        upper = lathe([*base, *_shoulder(r0, body_z, *neck), *top])
        return union([box, upper])
    fillet = uniform(rng, 0.002, 0.006)
    waist = uniform(rng, 0.03, 0.12) if rng.random() < 0.4 else 0.0
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
    return lathe(profile, sections=40)


def _shoulder(r0: float, z0: float, rn: float, z1: float, q: float) -> np.ndarray:
    """Superelliptic taper from radius ``r0`` at ``z0`` to ``rn`` at ``z1``."""
    s = np.linspace(0.0, 1.0, 9)
    r = rn + (r0 - rn) * (1 - s**q) ** (1 / q)
    return np.column_stack((r, z0 + s * (z1 - z0)))


# ---------------------------------------------------------------- lamp


def lamp(rng: np.random.Generator) -> trimesh.Trimesh:
    if rng.random() < 0.4:  # floor lamp
        h, base_r, base_t = uniform(rng, 1.4, 1.8), uniform(rng, 0.12, 0.18), uniform(rng, 0.02, 0.04)
        pole_r, rb, sh = uniform(rng, 0.01, 0.016), uniform(rng, 0.16, 0.24), uniform(rng, 0.2, 0.32)
        rt = rb * uniform(rng, 0.5, 0.9)
    else:  # desk lamp
        h, base_r, base_t = uniform(rng, 0.35, 0.6), uniform(rng, 0.06, 0.1), uniform(rng, 0.015, 0.03)
        pole_r, rb, sh = uniform(rng, 0.006, 0.01), uniform(rng, 0.08, 0.14), uniform(rng, 0.1, 0.18)
        rt = rb * uniform(rng, 0.3, 0.8)
    base, base_top = _lamp_base(rng, base_r, base_t)
    hollow = bool(rng.random() < 0.7)
    st = uniform(rng, 0.003, 0.005) if hollow else sh / 2
    anchor_z = h - st / 2  # pole ends inside the shade's top slab (or its middle)
    x_shade = 0.0
    parts = [base]
    if rng.random() < 0.4:  # bent arm: vertical pole, joint, slanted upper segment
        zj = base_top + (h - sh - base_top) * uniform(rng, 0.5, 0.8)
        x_shade = uniform(rng, 0.05, 0.15)
        joint = superquadric((pole_r * 1.6,) * 3, 1.0, 1.0, (0, 0, zj), subdivisions=2)
        parts += [
            cyl(pole_r, base_top - EPS, zj, sections=24),
            joint,
            rod((0, 0, zj), (x_shade, 0, anchor_z), pole_r),
        ]
    else:
        parts.append(cyl(pole_r, base_top - EPS, anchor_z, sections=24))
    parts.append(_lamp_shade(rb, rt, sh, h, st if hollow else None, x_shade))
    if hollow and rng.random() < 0.6:
        br = min(0.6 * rt, 0.4 * sh, uniform(rng, 0.02, 0.035))
        center = (x_shade, 0.0, h - st / 2 - br)  # top of the bulb inside the slab
        parts.append(superquadric((br,) * 3, 1.0, 1.0, center, subdivisions=2))
    return union(parts)


def _lamp_base(
    rng: np.random.Generator, r: float, t: float
) -> tuple[trimesh.Trimesh, float]:
    """Disc, square plate or dome base; returns (mesh, top height)."""
    kind = int(rng.integers(3))
    if kind == 0:
        return cyl(r, 0.0, t, sections=40), t
    if kind == 1:
        a = r * 0.9
        return aabb((-a, -a, 0.0), (a, a, t)), t
    s = np.linspace(0.0, np.pi / 2, 8)
    dome = np.column_stack((r * np.cos(s), t * 0.4 + t * 1.2 * np.sin(s)))
    return lathe([(0.0, 0.0), (r, 0.0), *dome], sections=40), t * 1.6


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
    return lathe(profile, sections=48).apply_translation((x, 0.0, 0.0))


# ---------------------------------------------------------------- bowl


def bowl(rng: np.random.Generator) -> trimesh.Trimesh:
    """Hollow lathed bowl (optionally with a foot ring) - no boolean needed."""
    r_rim = uniform(rng, 0.06, 0.15)
    h = float(np.clip(r_rim * uniform(rng, 0.4, 0.8), 0.04, 0.12))
    rb, t, k = r_rim * uniform(rng, 0.35, 0.6), uniform(rng, 0.003, 0.006), uniform(rng, 1.3, 2.5)
    s = np.linspace(0.0, 1.0, 12)
    outer_r = rb + (r_rim - rb) * s
    if rng.random() < 0.5:
        fh, rf = uniform(rng, 0.004, 0.01), rb * uniform(rng, 0.75, 0.9)
        base = [(0.0, fh), (rf, fh), (rf, 0.0)]
    else:
        fh, base = 0.0, [(0.0, 0.0)]
    zb = fh + t  # inner floor height
    outer = np.column_stack((outer_r, h * s**k))
    inner = np.column_stack((outer_r - t, zb + (h - zb) * s**k))[::-1]
    profile = [*base, *outer, *inner, (0.0, zb)]
    return lathe(profile, sections=48)


# ---------------------------------------------------------------- monitor


def monitor(rng: np.random.Generator) -> trimesh.Trimesh:
    w = uniform(rng, 0.45, 0.75)
    sh = w / (16 / 9, 16 / 10, 21 / 9)[int(rng.integers(3))]
    st, hd = uniform(rng, 0.008, 0.02), uniform(rng, 0.025, 0.06)
    base, base_t = _monitor_base(rng)
    zc = base_t + uniform(rng, 0.05, 0.15) + sh / 2
    hw, hh = w * uniform(rng, 0.4, 0.8), sh * uniform(rng, 0.4, 0.7)
    pivot = np.array([0.0, st / 2 + hd / 2, zc + uniform(rng, -0.1, 0.1) * sh])
    screen = [
        aabb((-w / 2, -st / 2, zc - sh / 2), (w / 2, st / 2, zc + sh / 2)),
        aabb(
            (-hw / 2, st / 2 - EPS, pivot[2] - hh / 2),
            (hw / 2, st / 2 + hd, pivot[2] + hh / 2),
        ),
    ]
    screen = rotated(
        screen, tf.rotation_matrix(-uniform(rng, 0.0, np.radians(10)), X_AXIS, pivot)
    )
    if rng.random() < 0.5:
        # the neck is thinner than the housing: no nearly coincident faces
        nw, nd = uniform(rng, 0.03, 0.07), hd * uniform(rng, 0.4, 0.7)
        lo, hi = (
            (-nw / 2, pivot[1] - nd / 2, base_t / 2),
            (nw / 2, pivot[1] + nd / 2, pivot[2]),
        )
        neck = aabb(lo, hi)
    else:
        neck = cyl(
            hd * uniform(rng, 0.3, 0.4), base_t / 2, pivot[2], 0.0, pivot[1], sections=24
        )
    return union([base.apply_translation((0.0, pivot[1], 0.0)), neck, *screen])


def _monitor_base(rng: np.random.Generator) -> tuple[trimesh.Trimesh, float]:
    """Rectangular plate or disc centred at the origin; returns (mesh, thickness)."""
    bt = uniform(rng, 0.008, 0.02)
    if rng.random() < 0.5:
        bw, bd = uniform(rng, 0.18, 0.3), uniform(rng, 0.14, 0.22)
        return aabb((-bw / 2, -bd / 2, 0.0), (bw / 2, bd / 2, bt)), bt
    return cyl(uniform(rng, 0.08, 0.13), 0.0, bt, sections=40), bt
