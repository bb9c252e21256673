"""Where training shapes come from: procedural categories, user mesh folders, ONet ShapeNet.

Each source lists items (a name and a way to make its Record); ``build_cache`` makes the
missing ones once and returns the cached files of a split (learn/splits.py does both for the
sources of a config).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from tqdm import tqdm

from occnet_ros.learn.records import Record, RecordSpec, make_record

log = logging.getLogger(__name__)
MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    """One shape of a split: its cache name and how to make its record from a seeded rng."""

    name: str
    make: Callable[[np.random.Generator, RecordSpec], Record]


def item_rng(name: str, seed: int) -> np.random.Generator:
    """A generator seeded by the item's name and the global seed (stable across runs)."""
    return np.random.default_rng([zlib.crc32(name.encode()), seed])


def procedural_items(split: str, categories: Iterable[str], count: int) -> list[Item]:
    """``count`` procedural shapes per category; disjoint seeds per split."""
    from occnet_ros.shapes.catalog import SPLIT_SEEDS, make_shape

    split_offset = SPLIT_SEEDS[split]
    items = []
    for category in categories:
        for index in range(count):
            seed = split_offset + index
            name = f"procedural-{category}-{seed:07d}"

            def make(rng, spec, category=category, seed=seed, name=name):
                mesh = make_shape(category, np.random.default_rng(seed))
                return make_record(mesh, rng, spec, name)

            items.append(Item(name, make))
    return items


def stand_at_origin(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """The mesh moved (in place) to stand on z = 0, centred in x/y; returned for chaining."""
    low, high = mesh.bounds
    mesh.apply_translation([-(low[0] + high[0]) / 2, -(low[1] + high[1]) / 2, -low[2]])
    return mesh


def load_mesh(path: Path, up: str = "z") -> trimesh.Trimesh:
    """A single watertight mesh from a file, z up, standing on z = 0 and centred in x/y.

    Raises ValueError for unreadable or non-watertight meshes (after a hole-filling attempt).
    """
    try:
        loaded = trimesh.load(path, force="mesh", process=True)
    except Exception as error:  # trimesh raises many types for corrupt files
        raise ValueError(f"{path}: cannot read mesh ({error})") from error
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f"{path}: no triangles")
    if up == "y":
        loaded.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    elif up != "z":
        raise ValueError(f"up must be 'z' or 'y', got {up!r}")
    if not loaded.is_watertight:
        trimesh.repair.fill_holes(loaded)
        trimesh.repair.fix_normals(loaded)
    if not loaded.is_watertight:
        raise ValueError(f"{path}: mesh is not watertight")
    if loaded.volume < 0:
        loaded.invert()
    return stand_at_origin(loaded)


def mesh_dir_items(split: str, root: Path, up: str = "z", scale: float = 1.0) -> list[Item]:
    """Mesh files of a split: those under root/<split>/ when root has split folders; otherwise
    every fifth file of root (sorted) is 'val' and the rest 'train'."""
    if not root.is_dir():
        raise FileNotFoundError(f"mesh folder not found: {root}")
    has_splits = any((root / s).is_dir() for s in SPLITS)
    folder = root / split if has_splits else root
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    if not has_splits:
        paths = [p for i, p in enumerate(paths) if (i % 5 == 4) == (split == "val")] if split != "test" else []
    items = []
    for path in paths:
        name = f"mesh-{path.relative_to(root).with_suffix('').as_posix().replace('/', '_')}"

        def make(rng, spec, path=path, name=name):
            mesh = load_mesh(path, up)
            mesh.apply_scale(scale)
            return make_record(mesh, rng, spec, name)

        items.append(Item(name, make))
    return items


def build_cache(items: list[Item], cache_dir: Path, spec: RecordSpec, seed: int, progress: bool = True) -> list[Path]:
    """Make the records of items missing from cache_dir; returns the paths of those that exist.

    Items that fail (unreadable or non-watertight meshes) are logged and skipped.
    """
    paths, failed = [], 0
    for item in tqdm(items, desc=f"data {cache_dir.name}", disable=not progress, leave=False):
        path = cache_dir / f"{item.name}.npz"
        if not path.exists():
            try:
                item.make(item_rng(item.name, seed), spec).save(path)
            except (ValueError, RuntimeError) as error:
                failed += 1
                log.warning("skipping %s: %s", item.name, error)
                continue
        paths.append(path)
    if failed:
        log.warning("%d of %d items in %s were skipped", failed, len(items), cache_dir)
    return paths
