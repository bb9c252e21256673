"""ros2 launch occnet_ros demo.launch.py [use_rviz:=true]: the HoloLens 2 simulator feeding the pipeline."""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch_ros.actions import Node

from occnet_ros.nodes.registry import HOLOLENS_SIM


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("occnet_ros"))
    pipeline = IncludeLaunchDescription(PythonLaunchDescriptionSource(str(share / "launch" / "reconstruct.launch.py")))
    sim = Node(package="occnet_ros", executable=HOLOLENS_SIM.executable, name=HOLOLENS_SIM.name, output="screen",
               parameters=[str(share / "config" / "occnet.yaml")])
    return LaunchDescription([sim, pipeline])
