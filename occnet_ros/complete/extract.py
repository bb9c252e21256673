"""Surface extraction: multiresolution isosurface extraction (MISE) + marching cubes.

MISE (Mescheder et al. 2019) evaluates the occupancy function on a coarse grid, then only
refines cells whose corners disagree about inside/outside (plus a one-cell margin), filling
the rest by trilinear interpolation. At 32^3 with two upsampling steps it gives the 128^3
surface for a fraction of the 129^3 dense evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from scipy import ndimage
from skimage import measure

from occnet_ros.geometry.frames import BOX_HALF

LogitFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ExtractionSettings:
    resolution0: int = 32
    upsampling_steps: int = 2
    threshold: float = 0.2  # occupancy probability of the surface
    batch_points: int = 100_000
    refine_margin: float = 3.0  # MISE also refines cells whose corners come within this many logits of the level
    # a surface with more handles than this (from its Euler number) is noise: close one-cell gaps and fill
    # enclosed voids (close_small_gaps) and extract again; None never does
    max_handles: int | None = 50

    @property
    def resolution(self) -> int:
        return self.resolution0 * 2**self.upsampling_steps

    def validate(self) -> None:
        if self.resolution0 < 2 or self.upsampling_steps < 0 or self.batch_points < 1 or self.refine_margin < 0:
            raise ValueError(f"invalid extraction settings {self}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")


@dataclass
class ExtractionResult:
    mesh: trimesh.Trimesh  # in the canonical box
    grid: np.ndarray  # logits on the (R+1)^3 vertex grid
    evaluated_points: int


def surface_level(threshold: float) -> float:
    """The logit of the occupancy probability ``threshold``: the level of the surface."""
    return float(np.log(threshold / (1 - threshold)))


def grid_coordinates(index: np.ndarray, resolution: int) -> np.ndarray:
    """Integer vertex indices (N, 3) of an R^3-cell grid -> box coordinates."""
    return index.astype(np.float32) * np.float32(2 * BOX_HALF / resolution) - np.float32(BOX_HALF)


@torch.no_grad()
def evaluate_points(fn: LogitFunction, points: np.ndarray, batch_points: int) -> np.ndarray:
    """Logits of fn at points (N, 3), in batches; NaN output raises."""
    out = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), batch_points):
        chunk = torch.from_numpy(np.ascontiguousarray(points[start : start + batch_points]))
        out[start : start + len(chunk)] = fn(chunk).float().cpu().numpy()
    if not np.isfinite(out).all():
        raise FloatingPointError("the occupancy network returned NaN or inf")
    return out


def dense_grid(fn: LogitFunction, resolution: int, batch_points: int = 100_000) -> np.ndarray:
    """Logits at every vertex of an R^3-cell grid over the box: (R+1)^3 evaluations."""
    n = resolution + 1
    index = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    return evaluate_points(fn, grid_coordinates(index, resolution), batch_points).reshape(n, n, n)


def _upsample(grid: np.ndarray) -> np.ndarray:
    """Vertex grid of n cells -> 2n cells, midpoints by trilinear interpolation.

    torch's align_corners interpolation gives the same values as scipy.ndimage.map_coordinates
    (order 1) at the half-integer points, an order of magnitude faster on this CPU."""
    n = grid.shape[0] - 1
    volume = torch.from_numpy(np.ascontiguousarray(grid, dtype=np.float32))[None, None]
    fine = torch.nn.functional.interpolate(volume, size=(2 * n + 1,) * 3, mode="trilinear", align_corners=True)
    return fine[0, 0].numpy()


def _cells_to_refine(grid: np.ndarray, level: float, margin: float = 0.0) -> np.ndarray:
    """Cells whose 8 corners straddle the level (or, with a margin, come within ``margin``
    logits of it from outside: a thin part between coarse vertices), grown by one cell."""
    corners = [grid[a : a + grid.shape[0] - 1, b : b + grid.shape[1] - 1, c : c + grid.shape[2] - 1]
               for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    highest = np.maximum.reduce(corners)
    lowest = np.minimum.reduce(corners)
    return ndimage.binary_dilation((highest >= level - margin) & (lowest < level), iterations=1)


def mise_grid(fn: LogitFunction, settings: ExtractionSettings) -> tuple[np.ndarray, int]:
    """Logit grid at settings.resolution refined only near the surface; and points evaluated."""
    level = surface_level(settings.threshold)
    grid = dense_grid(fn, settings.resolution0, settings.batch_points)
    evaluated = np.ones(grid.shape, dtype=bool)
    count = grid.size
    resolution = settings.resolution0
    for _ in range(settings.upsampling_steps):
        refine = _cells_to_refine(grid, level, settings.refine_margin)
        grid, resolution = _upsample(grid), resolution * 2
        fine_eval = np.zeros(grid.shape, dtype=bool)
        fine_eval[::2, ::2, ::2] = evaluated
        wanted = np.zeros(grid.shape, dtype=bool)
        cells = np.argwhere(refine) * 2
        for offset in np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3):
            idx = cells + offset
            wanted[idx[:, 0], idx[:, 1], idx[:, 2]] = True
        todo = np.argwhere(wanted & ~fine_eval)
        if len(todo):
            grid[todo[:, 0], todo[:, 1], todo[:, 2]] = evaluate_points(
                fn, grid_coordinates(todo, resolution), settings.batch_points
            )
        fine_eval[todo[:, 0], todo[:, 1], todo[:, 2]] = True
        evaluated = fine_eval
        count += len(todo)
    return grid, count


GAP_FILL_MARGIN = 0.5  # logits above the level given to vertices the closing makes inside
# the closing's structuring element: 6-connected (a cube's faces). 18-connected also closes the diagonal
# contacts that 6 leaves as handles, but lost F@1% on the validation furniture (docs/eval/closing_connectivity_study.json)
GAP_CONNECTIVITY = 1


def close_small_gaps(grid: np.ndarray, threshold: float) -> np.ndarray:
    """The logit grid with one-cell gaps closed (a morphological closing of the inside, 6-connected)
    and enclosed voids filled: vertices that become inside take ``level + GAP_FILL_MARGIN``; the same
    array when nothing changes.

    Noisy depth leaves the fused field with pinholes through thin walls and bubbles inside them:
    hundreds of tiny handles (Euler numbers of -600 to -900 on a shelf, a mug and a basket seen by
    HoloLens-like views). Quadric decimation may not remove a handle, so it stalled above the
    triangle budget there and the voxel re-mesh that followed lost the shape (F@1% 0.01-0.13); closed,
    the same fields decimate to 5,000 triangles in a third of the time (F@1% 0.27-0.79). Applied to
    every surface it also closes real narrow gaps (pybullet validation shapes -0.006 F@1%), so
    extract_mesh applies it only to surfaces with more than ``max_handles`` handles."""
    level = surface_level(threshold)
    inside = grid >= level
    structure = ndimage.generate_binary_structure(3, GAP_CONNECTIVITY)
    closed = ndimage.binary_closing(np.pad(inside, 2), structure=structure)[2:-2, 2:-2, 2:-2] | inside
    closed = ndimage.binary_fill_holes(closed)
    added = closed & ~inside
    if not added.any():
        return grid
    out = grid.copy()
    out[added] = level + GAP_FILL_MARGIN
    return out


# logits by which every grid vertex is kept off the level before marching cubes (see clear_of_level)
LEVEL_CLEARANCE = 1e-3


def clear_of_level(grid: np.ndarray, level: float) -> np.ndarray:
    """The grid with values within LEVEL_CLEARANCE of the level moved to level +- LEVEL_CLEARANCE
    (inside, >= level, stays inside); the same array when none is that close.

    A vertex on (or a float's breadth from) the level puts marching cubes' surface vertex on the
    grid point itself, once for each of its edges: trimesh welds those copies and the faces around
    them pinch into edges that four faces share and zero-area triangles, so the mesh is not closed
    (the bench sofa: two such vertices; a lattice sphere of integer radius: every time). Moved by
    1e-3 logits, the surface shifts by about 1e-4 of a cell."""
    near = np.abs(grid - level) < LEVEL_CLEARANCE
    if not near.any():
        return grid
    out = grid.copy()
    out[near] = np.where(grid[near] >= level, level + LEVEL_CLEARANCE, level - LEVEL_CLEARANCE)
    return out


def mesh_from_grid(grid: np.ndarray, threshold: float) -> trimesh.Trimesh:
    """Marching cubes of a logit vertex grid over the box; closed (padded with 'outside', no vertex on the level)."""
    level = surface_level(threshold)
    resolution = grid.shape[0] - 1
    grid = clear_of_level(grid, level)
    padded = np.pad(grid, 1, mode="constant", constant_values=min(float(grid.min()), level) - 10.0)
    if not (padded >= level).any():
        raise ValueError("the occupancy grid is empty: no point is inside at this threshold")
    verts, faces, _, _ = measure.marching_cubes(padded, level=level, method="lewiner")
    verts = (verts - 1.0) * (2 * BOX_HALF / resolution) - BOX_HALF
    mesh = trimesh.Trimesh(verts, faces, process=True)
    if signed_volume(mesh) < 0:
        mesh.invert()
    return mesh


def signed_volume(mesh: trimesh.Trimesh) -> float:
    """The enclosed volume of a closed mesh, negative when its faces wind inwards: the sum of the
    tetrahedra from the origin to every face. Written here because ``mesh.volume`` integrates every
    mass property first (inertia included): 0.25 s of a 145,000-triangle mug's extraction, this 0.02 s."""
    a, b, c = (mesh.vertices[mesh.faces[:, corner]] for corner in range(3))
    return float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6.0)


def extract_mesh(fn: LogitFunction, settings: ExtractionSettings = ExtractionSettings(), use_mise: bool = True) -> ExtractionResult:
    """The isosurface of fn at settings.threshold, MISE or dense, as a mesh in the box."""
    settings.validate()
    if use_mise:
        grid, count = mise_grid(fn, settings)
    else:
        grid = dense_grid(fn, settings.resolution, settings.batch_points)
        count = grid.size
    mesh = mesh_from_grid(grid, settings.threshold)
    if settings.max_handles is not None and handles(mesh) > settings.max_handles:
        closed = close_small_gaps(grid, settings.threshold)
        if closed is not grid:  # a surface whose handles no closing reaches is not extracted twice
            grid, mesh = closed, mesh_from_grid(closed, settings.threshold)
    return ExtractionResult(mesh, grid, count)


def handles(mesh: trimesh.Trimesh) -> int:
    """Handles less extra components of a closed triangle mesh, from its Euler number (chi = 2 - 2g per
    component). Closed, every edge has two faces (E = 3F / 2), so chi = V - F / 2 without building the
    unique edges that ``mesh.euler_number`` needs (66 ms on a 140,000-triangle mug, every reconstruction);
    mesh_from_grid's surfaces are closed by construction."""
    euler = len(mesh.vertices) - len(mesh.faces) // 2
    return (2 - euler) // 2
