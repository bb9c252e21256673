"""Storage families: cabinet (drawers and doors) and shelf."""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import numpy as np
import trimesh

from occnet_ros.shapes.primitives import EPS, GAP, aabb, cyl, post, rod, uniform, union

# ---------------------------------------------------------------- cabinet


class _Front(NamedTuple):
    y: float  # front face of the carcass (negative y)
    t: float  # front panel thickness
    handle: str  # "bar" or "knob"
    protrude: float  # handle protrusion


def cabinet(rng: np.random.Generator) -> trimesh.Trimesh:
    w, d, h = uniform(rng, 0.4, 1.0), uniform(rng, 0.35, 0.6), uniform(rng, 0.5, 1.9)
    base_kind = int(rng.integers(3))  # 0: none, 1: plinth, 2: legs
    base_h = (0.0, uniform(rng, 0.05, 0.1), uniform(rng, 0.08, 0.15))[base_kind]
    top_t = uniform(rng, 0.015, 0.03) if rng.random() < 0.5 else 0.0
    body_top = h - top_t
    parts = [aabb((-w / 2, -d / 2, base_h), (w / 2, d / 2, body_top))]
    parts += _cabinet_base(rng, base_kind, w, d, base_h)
    if top_t:
        o = uniform(rng, GAP, 0.03)
        parts.append(
            aabb((-w / 2 - o, -d / 2 - o, body_top - EPS), (w / 2 + o, d / 2 + o, h))
        )
    handle = ("bar", "knob")[int(rng.integers(2))]
    front = _Front(-d / 2, uniform(rng, 0.012, 0.02), handle, uniform(rng, 0.015, 0.03))
    m = uniform(rng, 0.005, 0.02)
    parts += _cabinet_fronts(
        rng, front, (-w / 2 + m, w / 2 - m), (base_h + m, body_top - m)
    )
    return union(parts)


def _cabinet_base(
    rng: np.random.Generator, kind: int, w: float, d: float, base_h: float
) -> list[trimesh.Trimesh]:
    if kind == 1:
        i = uniform(rng, 0.01, 0.04)
        return [
            aabb((-w / 2 + i, -d / 2 + i, 0.0), (w / 2 - i, d / 2 - i, base_h + EPS))
        ]
    if kind == 2:
        r, i = uniform(rng, 0.012, 0.025), uniform(rng, 0.03, 0.06) + GAP
        x, y = w / 2 - i, d / 2 - i
        return [
            cyl(r, 0.0, base_h + EPS, sx * x, sy * y, 24)
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
    split = zr[1] - min(uniform(rng, 0.12, 0.2), (zr[1] - zr[0]) / 3)
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
    return aabb((xr[0] + g, f.y + EPS, zr[0] + g), (xr[1] - g, f.y - f.t, zr[1] - g))


def _handle(
    f: _Front, x: float, z: float, length: float, vertical: bool
) -> trimesh.Trimesh:
    y0, y1 = f.y - f.t + EPS, f.y - f.t - f.protrude
    if f.handle == "knob":
        return rod((x, y0, z), (x, y1, z), 0.011, sections=24)
    half = np.array([0.006, 0.0, length / 2] if vertical else [length / 2, 0.0, 0.006])
    return aabb((x - half[0], y0, z - half[2]), (x + half[0], y1, z + half[2]))


# ---------------------------------------------------------------- shelf


def shelf(rng: np.random.Generator) -> trimesh.Trimesh:
    """Bookcase: side panels (or four posts), 2-5 boards, optional back and kick."""
    w, d, h = uniform(rng, 0.6, 1.2), uniform(rng, 0.25, 0.4), uniform(rng, 0.8, 2.0)
    bt = uniform(rng, 0.015, 0.03)
    posts = bool(rng.random() < 0.3)
    z_lo = uniform(rng, 0.04, 0.1) if rng.random() < 0.5 else GAP
    z_top = h - GAP if rng.random() < 0.6 else h - uniform(rng, 0.05, 0.2)
    if posts:
        pr, rounded = uniform(rng, 0.015, 0.025), bool(rng.random() < 0.5)
        x, y = w / 2 - pr, d / 2 - pr
        frame = [
            post(sx * x, sy * y, 2 * pr, 0.0, h, rounded)
            for sx in (-1, 1)
            for sy in (-1, 1)
        ]
        x_board, x_back = x, x - GAP
    else:
        side = uniform(rng, 0.015, 0.03)
        frame = [
            aabb((sx * w / 2, -d / 2, 0.0), (sx * (w / 2 - side), d / 2, h))
            for sx in (-1, 1)
        ]
        x_board, x_back = w / 2 - side + EPS, w / 2 - side + 2 * EPS
    zs = np.linspace(z_lo, z_top - bt, int(rng.integers(2, 6)))
    y_back = d / 2 - 2 * GAP  # boards end inside the back panel
    parts = frame + [
        aabb((-x_board, -d / 2 + GAP, z), (x_board, y_back, z + bt)) for z in zs
    ]
    if not posts and z_lo > GAP and rng.random() < 0.7:
        # kick board under the bottom shelf
        y = -d / 2 + 0.01
        parts.append(aabb((-x_board, y, GAP), (x_board, y + bt, z_lo + EPS)))
    if rng.random() < 0.6:  # thin back panel
        pt = uniform(rng, 0.004, 0.01)
        lo, hi = (
            (-x_back, d / 2 - GAP - pt, z_lo + GAP),
            (x_back, d / 2 - GAP, z_top - GAP),
        )
        parts.append(aabb(lo, hi))
    return union(parts)
