"""ros2 launch occnet_ros demo.launch.py [use_rviz:=true] [...]: the HoloLens 2 simulator feeding the pipeline.

Takes every argument of reconstruct.launch.py (namespace, params_file, use_bridge, ...).
"""

from launch import LaunchDescription

from occnet_ros.nodes.launch_support import launch_description
from occnet_ros.nodes.registry import HOLOLENS_SIM, RECONSTRUCT_NODES


def generate_launch_description() -> LaunchDescription:
    return launch_description((HOLOLENS_SIM, *RECONSTRUCT_NODES))
