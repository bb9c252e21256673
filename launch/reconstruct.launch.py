"""ros2 launch occnet_ros reconstruct.launch.py [namespace:=...] [params_file:=...] [use_sim_time:=true]
[use_bridge:=false] [log_level:=debug] [world_frame:=...] [depth_topic:=...] [use_rviz:=true]
[bag:=sim.bag] [bag_rate:=1.0]

Observation + reconstruction + Unity bridge, parameters from config/occnet.yaml (or params_file).
`ros2 launch occnet_ros reconstruct.launch.py --show-args` lists every argument.
"""

from launch import LaunchDescription

from occnet_ros.nodes.launch_support import launch_description
from occnet_ros.nodes.registry import RECONSTRUCT_NODES


def generate_launch_description() -> LaunchDescription:
    return launch_description(RECONSTRUCT_NODES)
