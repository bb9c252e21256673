"""The reconstruction node hands its evidence parameters to the pipeline it builds (the shipped
model, loaded for real)."""

from __future__ import annotations

import pytest
from ros_helpers import REPO

from occnet_ros.nodes.common import ConfigurationError


def start_reconstruction(overrides: dict):
    from occnet_ros.nodes.registry import RECONSTRUCTION
    from occnet_ros.nodes.runner import NodeRunner

    return NodeRunner((RECONSTRUCTION,), REPO / "config" / "occnet.yaml", {"reconstruction": {"device": "cpu", **overrides}}).start()


def test_pose_tolerance_reaches_the_evidence_settings():
    runner = start_reconstruction({"pose_tolerance_m": 0.02})
    try:
        evidence = runner.nodes["reconstruction"].pipeline.reconstructor.evidence
        assert evidence.pose_tolerance_m == pytest.approx(0.02)
    finally:
        runner.shutdown()


def test_a_pose_tolerance_out_of_range_is_refused_by_name():
    with pytest.raises(ConfigurationError, match="pose_tolerance_m"):
        start_reconstruction({"pose_tolerance_m": 0.5})


@pytest.mark.parametrize("enabled", [True, False])
def test_mirror_and_revolution_symmetry_reach_the_reconstructor(enabled):
    runner = start_reconstruction({"mirror_symmetry": enabled, "revolution_symmetry": not enabled})
    try:
        reconstructor = runner.nodes["reconstruction"].pipeline.reconstructor
        assert reconstructor.symmetry.enabled is enabled and reconstructor.revolution.enabled is not enabled
    finally:
        runner.shutdown()
