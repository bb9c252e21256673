"""Every QoS profile of the nodes in one place (rclpy only: no torch, no model code).

A bare ``QoSProfile(depth=N)`` is what rclpy makes of an integer depth: keep last N, reliable,
volatile. Nodes pass one of these names, never a number.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

_RELIABLE = dict(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

SENSOR = qos_profile_sensor_data  # depth, camera_info, segmentation: best effort, small depth
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)  # objects/array
# markers: each MarkerArray is the whole picture (DELETEALL, then every object), so a late RViz needs the last one only
MARKERS = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
OBJECTS = QoSProfile(depth=10)  # objects: one ReconstructedObject per (re)construction
OBSERVATIONS = QoSProfile(depth=50)  # objects/observations, observation -> reconstruction
CLOUDS = QoSProfile(depth=2)  # objects/cloud (RViz)
DIAGNOSTICS = QoSProfile(depth=10)  # /diagnostics
CAMERA_POSE = QoSProfile(depth=50)  # camera_pose (pose_source: topic), simulator -> observation
TF = QoSProfile(depth=100)  # /tf: the simulators' and bridges' publishers, the built-in listener
SIM_TF_STATIC = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)  # simulator
TF_STATIC_LISTENER = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
# Replay: reliable publishers match both reliable and best-effort (sensor-data) subscribers.
REPLAY_STREAM = QoSProfile(depth=10, durability=DurabilityPolicy.VOLATILE, **_RELIABLE)
REPLAY_TF = QoSProfile(depth=100, durability=DurabilityPolicy.VOLATILE, **_RELIABLE)
REPLAY_TF_STATIC = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, **_RELIABLE)
REPLAY_CLOCK = QoSProfile(depth=1, durability=DurabilityPolicy.VOLATILE, **_RELIABLE)  # as rosbag2 play --clock
