"""Reading point clouds and finding the shipped checkpoint."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import trimesh

POINT_FORMATS = (".ply", ".pcd", ".xyz", ".obj", ".off", ".stl", ".npy", ".npz")


def read_points(path: str | Path, up: str = "z") -> np.ndarray:
    """(N, 3) points from .ply/.pcd/.xyz/.obj/.off/.stl (vertices), .npy or .npz ('points').

    ``up='y'`` rotates a y-up source into the z-up frame (REP-103).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point cloud not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in POINT_FORMATS:
        raise ValueError(f"{path}: unsupported point cloud format {suffix or '(no suffix)'!r}; use one of {', '.join(POINT_FORMATS)}")
    if suffix == ".npy":
        points = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "points" not in data:
                raise ValueError(f"{path}: an .npz cloud needs a 'points' array, has {list(data)}")
            points = data["points"]
    elif suffix == ".xyz":
        try:
            points = np.loadtxt(path, ndmin=2)[:, :3]
        except ValueError as error:
            raise ValueError(f"{path}: cannot parse the .xyz file: {error}") from error
    else:
        import trimesh

        try:
            loaded = trimesh.load(path, process=False)
        except Exception as error:  # trimesh raises many kinds on a broken file
            raise ValueError(f"{path}: cannot parse the {suffix} file: {type(error).__name__}: {error}") from error
        points = np.asarray(getattr(loaded, "vertices", []))
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"{path}: expected an (N, 3) point array, got shape {points.shape}")
    points = points[:, :3]
    if up == "y":
        points = points[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
    elif up != "z":
        raise ValueError(f"up must be 'z' or 'y', got {up!r}")
    return points

MESH_FORMATS = ("obj", "ply", "glb")
FILE_NAME_CLASS_CHARS = 32


def mesh_file_name(obj_id: int, class_name: str, fmt: str) -> str:
    """``object_<id>_<class>.<fmt>``: the class reduced to [A-Za-z0-9_-] (others become '_'),
    at most FILE_NAME_CLASS_CHARS characters; names from outside never become paths."""
    if fmt not in MESH_FORMATS:
        raise ValueError(f"mesh format must be one of {MESH_FORMATS}, got {fmt!r}")
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "_" for ch in class_name)[:FILE_NAME_CLASS_CHARS]
    return f"object_{int(obj_id):03d}_{safe.strip('_') or 'object'}.{fmt}"


def path_inside(directory: Path, name: str) -> Path:
    """``directory / name`` resolved; raises ValueError when it would leave ``directory``."""
    root = Path(directory).expanduser().resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise ValueError(f"{name!r} resolves outside {root}")
    return path


def save_mesh_atomic(mesh: trimesh.Trimesh, path: Path) -> Path:
    """Write a mesh (format from the suffix) via a temp file and rename: never half a file."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in MESH_FORMATS:
        raise ValueError(f"mesh format must be one of {MESH_FORMATS}, got {fmt!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=f".{fmt}")
    os.close(fd)
    try:
        mesh.export(tmp, file_type=fmt)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
