"""ros2 launch occnet_ros reconstruct.launch.py [depth_topic:=...] [world_frame:=...] [use_rviz:=true]

Observation + reconstruction + Unity bridge, parameters from config/occnet.yaml.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from occnet_ros.nodes.registry import RECONSTRUCT_NODES, SENSOR_TOPICS


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("occnet_ros"))
    arguments = [
        DeclareLaunchArgument("params_file", default_value=str(share / "config" / "occnet.yaml")),
        DeclareLaunchArgument("world_frame", default_value="map"),
        DeclareLaunchArgument("checkpoint", default_value="", description="model file; empty = shipped"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu or cuda"),
        DeclareLaunchArgument("use_rviz", default_value="false"),
        *[DeclareLaunchArgument(arg, default_value=topic) for arg, topic in SENSOR_TOPICS.items()],
    ]
    overrides = {
        "observation": {"world_frame": LaunchConfiguration("world_frame")},
        "reconstruction": {"world_frame": LaunchConfiguration("world_frame"), "checkpoint": LaunchConfiguration("checkpoint"),
                           "device": LaunchConfiguration("device")},
    }
    remappings = [(topic, LaunchConfiguration(arg)) for arg, topic in SENSOR_TOPICS.items()]
    nodes = [
        Node(package="occnet_ros", executable=entry.executable, name=entry.name, output="screen",
             parameters=[LaunchConfiguration("params_file"), overrides.get(entry.name, {})], remappings=remappings)
        for entry in RECONSTRUCT_NODES
    ]
    rviz = Node(package="rviz2", executable="rviz2", arguments=["-d", str(share / "config" / "occnet.rviz")],
                condition=IfCondition(LaunchConfiguration("use_rviz")))
    return LaunchDescription([*arguments, *nodes, rviz])
