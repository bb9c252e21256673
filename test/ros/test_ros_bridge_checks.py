"""The bridge node's start-up checks: an old websockets fails the start naming the version."""

from __future__ import annotations

import pytest

from occnet_ros.nodes import unity_bridge
from occnet_ros.nodes.common import ConfigurationError
from occnet_ros.nodes.parameters import UNITY_BRIDGE


def test_old_or_missing_websockets_fails_the_start_naming_it(monkeypatch):
    unity_bridge.check_websockets()  # the pinned one passes
    monkeypatch.setattr(unity_bridge.importlib.metadata, "version", lambda name: "12.0")
    with pytest.raises(ConfigurationError, match=r"needs websockets>=14\.0, found websockets 12\.0"):
        unity_bridge.check_websockets()

    def missing(name: str) -> str:
        raise unity_bridge.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(unity_bridge.importlib.metadata, "version", missing)
    with pytest.raises(ConfigurationError, match="pip install 'websockets>=14.0'"):
        unity_bridge.check_websockets()


def test_default_port_is_not_rosbridges():
    assert next(p.default for p in UNITY_BRIDGE if p.name == "port") not in (9090, 8765)  # rosbridge, foxglove_bridge
