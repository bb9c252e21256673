"""The node list of the launch files and of the in-process runner (one place, so they agree)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeEntry:
    name: str  # node name = section of config/occnet.yaml
    executable: str  # installed into lib/occnet_ros
    module: str
    cls: str

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)


OBSERVATION = NodeEntry("observation", "observation_node", "occnet_ros.nodes.observation", "ObservationNode")
RECONSTRUCTION = NodeEntry("reconstruction", "reconstruction_node", "occnet_ros.nodes.reconstruction", "ReconstructionNode")
UNITY_BRIDGE = NodeEntry("unity_bridge", "unity_bridge_node", "occnet_ros.nodes.unity_bridge", "UnityBridgeNode")
HOLOLENS_SIM = NodeEntry("hololens_sim", "hololens_sim_node", "occnet_ros.nodes.hololens_sim", "HoloLensSimNode")
HL2SS_BRIDGE = NodeEntry("hl2ss_bridge", "hl2ss_bridge_node", "occnet_ros.nodes.hl2ss_bridge", "Hl2ssBridgeNode")
REPLAY = NodeEntry("replay", "replay_node", "occnet_ros.nodes.replay", "ReplayNode")

RECONSTRUCT_NODES = (OBSERVATION, RECONSTRUCTION, UNITY_BRIDGE)  # reconstruct.launch.py
DEMO_NODES = (HOLOLENS_SIM, *RECONSTRUCT_NODES)  # demo.launch.py and `make demo`
SENSOR_TOPICS = {"depth_topic": "depth/image", "camera_info_topic": "depth/camera_info", "segmentation_topic": "segmentation"}
