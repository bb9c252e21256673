"""A node process loads torch only if it runs the model (imported for real, with rclpy and the built messages)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from ros_helpers import REPO

CHECK = "import importlib, sys; importlib.import_module(sys.argv[1]); print('torch' in sys.modules)"


@pytest.mark.parametrize("module", ["occnet_ros.nodes.unity_bridge", "occnet_ros.nodes.hololens_sim", "occnet_ros.nodes.observation",
                                    "occnet_ros.nodes.replay", "occnet_ros.nodes.qos", "occnet_ros.nodes.registry", "occnet_ros.nodes.parameters"])
def test_nodes_without_the_model_do_not_load_torch(module):
    out = subprocess.run([sys.executable, "-P", "-c", CHECK, module], cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False", f"{module} loads torch"


def test_the_reconstruction_node_loads_torch():
    out = subprocess.run([sys.executable, "-P", "-c", CHECK, "occnet_ros.nodes.reconstruction"], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "True"
