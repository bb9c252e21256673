"""Reading point clouds and finding the shipped checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFAULT_MODEL_NAME = "conv_onet_procedural.pt"  # the measured winner (models/README.md)


def read_points(path: str | Path, up: str = "z") -> np.ndarray:
    """(N, 3) points from .ply/.pcd/.xyz/.obj/.off/.stl (vertices), .npy or .npz ('points').

    ``up='y'`` rotates a y-up source into the z-up frame (REP-103).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point cloud not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        points = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "points" not in data:
                raise ValueError(f"{path}: an .npz cloud needs a 'points' array, has {list(data)}")
            points = data["points"]
    elif suffix == ".xyz":
        points = np.loadtxt(path, ndmin=2)[:, :3]
    else:
        import trimesh

        loaded = trimesh.load(path, process=False)
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


def package_root_models() -> Path | None:
    """models/ of the source tree this module lives in (also behind a symlink install)."""
    root = Path(__file__).resolve().parents[2] / "models"
    return root if root.is_dir() else None


def default_checkpoint() -> Path:
    """$OCCNET_CHECKPOINT, else the shipped model in the source tree or the ROS share dir."""
    if os.environ.get("OCCNET_CHECKPOINT"):
        return Path(os.environ["OCCNET_CHECKPOINT"])
    candidates = []
    models = package_root_models()
    if models is not None:
        candidates.append(models / DEFAULT_MODEL_NAME)
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("occnet_ros")) / "models" / DEFAULT_MODEL_NAME)
    except Exception:  # ament_index missing or package not installed: not an error here
        pass
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no shipped checkpoint {DEFAULT_MODEL_NAME} found (looked in {[str(c) for c in candidates]}); "
        "pass --checkpoint or set OCCNET_CHECKPOINT"
    )
