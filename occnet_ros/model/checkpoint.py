"""Checkpoints: architecture, weights, inference settings; loaded with weights_only=True.

A checkpoint is a plain dict of tensors, numbers and strings, so ``torch.load`` runs with
``weights_only=True`` (no pickled code). Missing keys, wrong shapes, a different format
version and unreadable files all raise ``CheckpointError`` with the path and the reason.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from occnet_ros.model.occnet import ModelConfig, build_model

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be used."""


@dataclass(frozen=True)
class InferenceSettings:
    """How inputs were prepared in training; inference must do the same."""

    threshold: float = 0.5  # occupancy probability of the surface (chosen on validation)
    input_points: int = 512
    fill: float = 0.8
    align_yaw: bool = True
    free_points: int = 0  # line-of-sight points given to a model built with line_of_sight


@dataclass
class LoadedModel:
    """A model in eval mode with the settings it was trained with."""

    model: torch.nn.Module  # OccupancyNetwork or ConvOccupancyNetwork
    settings: InferenceSettings
    info: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    settings: InferenceSettings,
    info: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write atomically: a crash while saving never leaves a truncated checkpoint behind."""
    state = {
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "settings": asdict(settings),
        "info": info or {},
        **(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict, validated for format; raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(state, dict) or "state_dict" not in state or "model_config" not in state:
        raise CheckpointError(f"{path} is not an occnet_ros checkpoint (no model_config/state_dict)")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format {version}; this version reads {FORMAT_VERSION}")
    return state


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """The model of a checkpoint in eval mode on ``device``; raises CheckpointError."""
    state = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(state["model_config"])
        settings = InferenceSettings(**state.get("settings", {}))
        model = build_model(config)
        model.load_state_dict(state["state_dict"])
    except (ValueError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path} does not match this model code: {error}") from error
    return LoadedModel(model.to(device).eval(), settings, dict(state.get("info", {})))

DEFAULT_MODEL_NAME = "conv_onet_furniture_long.pt"  # the measured winner (models/README.md "Choosing the default", docs/benchmarks.md)
# For clouds without views: the line-of-sight model was trained with line-of-sight points always
# present, and on points alone it loses observed detail (a cropped shelf corner: 0.35 of the
# points within 2% of the box vs 0.9 for this one).
POINT_ONLY_MODEL_NAME = "conv_onet_procedural.pt"


def package_root_models() -> Path | None:
    """models/ of the source tree this module lives in (also behind a symlink install)."""
    root = Path(__file__).resolve().parents[2] / "models"
    return root if root.is_dir() else None


def default_checkpoint(point_only: bool = False) -> Path:
    """$OCCNET_CHECKPOINT, else the shipped model in the source tree or the ROS share dir: the
    default (trained with line-of-sight points from depth views), or with ``point_only`` the
    model trained on points alone, for point clouds that come without their views."""
    if os.environ.get("OCCNET_CHECKPOINT"):
        return Path(os.environ["OCCNET_CHECKPOINT"])
    name = POINT_ONLY_MODEL_NAME if point_only else DEFAULT_MODEL_NAME
    candidates = []
    models = package_root_models()
    if models is not None:
        candidates.append(models / name)
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("occnet_ros")) / "models" / name)
    except Exception:  # ament_index missing or package not installed: not an error here
        pass
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no shipped checkpoint {name} found (looked in {[str(c) for c in candidates]}); "
        "pass --checkpoint or set OCCNET_CHECKPOINT"
    )


def pick_device(name: str) -> torch.device:
    """cuda when asked (or 'auto') and available, else cpu."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")
