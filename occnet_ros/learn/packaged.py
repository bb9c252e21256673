"""Meshes shipped inside PyPI packages, read straight from the wheel (no install, no import).

The pybullet wheel (zlib licence) carries ``pybullet_data/random_urdfs/NNN/NNN.obj``: 1,000
small random watertight objects, useful as category-free shapes. Only the .obj files are read.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import trimesh

from occnet_ros.learn.records import make_record
from occnet_ros.learn.sources import Item, stand_at_origin

PYBULLET_WHEEL = "pybullet==3.2.7"
RANDOM_URDF = re.compile(r"pybullet_data/random_urdfs/(\d+)/\1\.obj$")
SPLIT_OF_INDEX = {"train": range(0, 900), "val": range(900, 950), "test": range(950, 1000)}


def download_wheel(directory: Path, requirement: str = PYBULLET_WHEEL) -> Path:
    """The wheel file of ``requirement`` in directory, downloaded with pip when missing."""
    directory.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0]
    found = sorted(directory.glob(f"{name}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(directory),
                        requirement], check=True)
        found = sorted(directory.glob(f"{name}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip did not download a wheel of {requirement} into {directory}")
    return found[-1]


def wheel_meshes(wheel: Path) -> dict[int, str]:
    """Index -> archive member of every random_urdfs object in the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return {int(m.group(1)): name for name in archive.namelist() if (m := RANDOM_URDF.search(name))}


def load_wheel_mesh(wheel: Path, member: str, size_m: float) -> trimesh.Trimesh:
    """One object, watertight, z up, standing on z = 0, scaled so its longest side is size_m."""
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(member)
    mesh = trimesh.load(io.BytesIO(data), file_type="obj", force="mesh", process=True)
    if not mesh.is_watertight:
        trimesh.repair.fill_holes(mesh)
    if not mesh.is_watertight or len(mesh.faces) == 0:
        raise ValueError(f"{member}: not watertight")
    if mesh.volume < 0:
        mesh.invert()
    mesh.apply_scale(size_m / float(np.ptp(mesh.bounds, axis=0).max()))
    return stand_at_origin(mesh)


def pybullet_items(
    split: str, wheel: Path, size_range_m: tuple[float, float] = (0.08, 0.5), count: int | None = None
) -> list[Item]:
    """Items of the random_urdfs objects whose index falls in the split (900/50/50); the first
    ``count`` of them when given."""
    items = []
    for index, member in sorted(wheel_meshes(wheel).items()):
        if index not in SPLIT_OF_INDEX[split]:
            continue
        name = f"pybullet-{index:03d}"

        def make(rng, spec, member=member, name=name):
            mesh = load_wheel_mesh(wheel, member, float(rng.uniform(*size_range_m)))
            return make_record(mesh, rng, spec, name)

        items.append(Item(name, make))
    return items[:count]
