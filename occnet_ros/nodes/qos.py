"""Every QoS profile of the nodes in one place (rclpy only: no torch, no model code)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

_RELIABLE = dict(reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

SENSOR = qos_profile_sensor_data  # depth, camera_info, segmentation: best effort, small depth
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)  # objects/array
MARKERS = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)  # a late RViz sees them
OBSERVATIONS = QoSProfile(depth=50)  # objects/observations, observation -> reconstruction
SIM_TF_STATIC = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)  # simulator
TF_STATIC_LISTENER = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
# Replay: reliable publishers match both reliable and best-effort (sensor-data) subscribers.
REPLAY_STREAM = QoSProfile(depth=10, durability=DurabilityPolicy.VOLATILE, **_RELIABLE)
REPLAY_TF = QoSProfile(depth=100, durability=DurabilityPolicy.VOLATILE, **_RELIABLE)
REPLAY_TF_STATIC = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, **_RELIABLE)
REPLAY_CLOCK = QoSProfile(depth=1, durability=DurabilityPolicy.VOLATILE, **_RELIABLE)  # as rosbag2 play --clock
