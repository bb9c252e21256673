"""Shared fixtures. ROS isolation is set before any test imports rclpy."""

from __future__ import annotations

import itertools
import os
import random
import signal
import sys
import tempfile
from pathlib import Path

import pytest

# Two test runs on one machine must never hear each other: a random domain, localhost only,
# logs in a temp dir. Each test module then moves to the next domain (own_ros_domain).
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random().randint(1, 100)))
_DOMAINS = itertools.count(int(os.environ["ROS_DOMAIN_ID"]))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_HOME", tempfile.mkdtemp(prefix="occnet-ros-home-"))
os.environ.setdefault("RCUTILS_LOGGING_USE_STDOUT", "1")

REPO = Path(__file__).resolve().parents[1]

# A shell's background job (`make test &`, nohup, a CI step run with `&`) starts with SIGINT ignored
# and every child inherits that: `ros2 launch` (whose handler only chains onto Python's) would then
# never see the Ctrl-C that stop_launch sends, and be killed after 60 s. With Python's own handler
# here, children start with SIGINT at its default again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_report_header(config):
    import occnet_ros

    return f"occnet_ros from {occnet_ros.__file__}, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, python {sys.executable}"


@pytest.fixture(scope="module", autouse=True)
def own_ros_domain():
    """Each test module on a DDS domain of its own (1..100, in turn): a process an earlier module
    launched that is still exiting, or Fast DDS shared-memory state a killed process left behind,
    must not reach this module's nodes (a full run once lost every Segmentation of a later test)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROS_DOMAIN_ID", str(next(_DOMAINS) % 100 + 1))
        yield


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def bridge_server():
    """Factory of started bridge servers on free ports (fast heartbeats); all stopped after the test."""
    from occnet_ros.bridge.server import BridgeServer, BridgeSettings

    started = []

    def make(**kwargs) -> BridgeServer:
        s = BridgeServer(BridgeSettings(**{"port": 0, "heartbeat_s": 0.2, "client_timeout_s": 1.0, **kwargs}))
        s.start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A small model trained for a few steps on a few procedural shapes (not for quality)."""
    from tiny import tiny_config

    from occnet_ros.learn.train import train

    root = tmp_path_factory.mktemp("tiny")
    config = tiny_config(root, 40)
    config["train"].update(validate_every=20, lr=0.002)
    train(config)
    return root / "run" / "best.pt"
