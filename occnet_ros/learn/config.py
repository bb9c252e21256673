"""YAML configs with ``inherit_from`` (safe loader only)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml


def deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of base with override merged in, recursively for nested dicts."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Load a YAML config; ``inherit_from: other.yaml`` (relative to this file) is merged first."""
    path = Path(path).resolve()
    if path in _seen:
        raise ValueError(f"config inheritance cycle through {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: invalid YAML: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config must be a mapping, got {type(data).__name__}")
    parent = data.pop("inherit_from", None)
    if parent is None:
        return data
    return deep_update(load_config(path.parent / parent, _seen + (path,)), data)


# What makes two runs the same run: how examples and records are made and the optimisation (the
# architecture is checked on its own). Not the data sources (tools/device_train.sh stands a pack of
# the same records in for them), nor how long or where a run executes (max_steps may be raised).
RUN_TRAIN_KEYS = ("batch_size", "lr", "lr_schedule", "warmup_steps", "min_lr_fraction", "weight_decay", "seed", "init", "init_mode")


def run_identity(train: dict[str, Any], example: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What a resumed run must share with the run it resumes, from the resolved train settings
    and example spec (defaults filled in) and the config's data section; JSON-plain."""
    identity = {
        "train": {key: train[key] for key in RUN_TRAIN_KEYS},
        "data": {"example": example, "record": data.get("record", {}), "seed": data.get("seed", 0)},
    }
    return json.loads(json.dumps(identity))


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """'key: old -> new' for every (dotted) key whose value differs between two nested dicts."""
    differences = []
    for key in sorted(set(old) | set(new), key=str):
        before, after = old.get(key, "(unset)"), new.get(key, "(unset)")
        if isinstance(before, dict) and isinstance(after, dict):
            differences += config_differences(before, after, f"{prefix}{key}.")
        elif before != after:
            differences.append(f"{prefix}{key}: {before!r} -> {after!r}")
    return differences
