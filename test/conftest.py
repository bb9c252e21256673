"""Shared fixtures. ROS isolation is set before any test imports rclpy."""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

import pytest

# Two test runs on one machine must never hear each other: a random domain, localhost only,
# logs in a temp dir.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_HOME", tempfile.mkdtemp(prefix="occnet-ros-home-"))
os.environ.setdefault("RCUTILS_LOGGING_USE_STDOUT", "1")

REPO = Path(__file__).resolve().parents[1]


def pytest_report_header(config):
    import occnet_ros

    return f"occnet_ros from {occnet_ros.__file__}, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, python {sys.executable}"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A small model trained for a few steps on a few procedural shapes (not for quality)."""
    from occnet_ros.core.train import train

    root = tmp_path_factory.mktemp("tiny")
    config = {
        "model": {"latent_dim": 32, "encoder_hidden": 32, "encoder_blocks": 2, "decoder_hidden": 32, "decoder_blocks": 2},
        "data": {
            "cache_dir": str(root / "cache"),
            "sources": [{"type": "procedural", "categories": ["cabinet", "bowl"], "train": 2, "val": 1}],
            "record": {"views": 3, "queries": 4000, "surface_points": 2000},
            "example": {"input_points": 256, "query_points": 512, "max_views": 3},
        },
        "train": {"out_dir": str(root / "run"), "batch_size": 4, "max_steps": 40, "validate_every": 20,
                  "checkpoint_every": 20, "lr": 0.002, "threads": 1},
    }
    train(config)
    return root / "run" / "best.pt"
