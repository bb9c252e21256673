"""Checkpoints: architecture, weights, inference settings; loaded with weights_only=True.

A checkpoint is a plain dict of tensors, numbers and strings, so ``torch.load`` runs with
``weights_only=True`` (no pickled code). Missing keys, wrong shapes, a different format
version and unreadable files all raise ``CheckpointError`` with the path and the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from occnet_ros.core.model.occnet import ModelConfig, build_model

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
