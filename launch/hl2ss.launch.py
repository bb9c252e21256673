"""ros2 launch occnet_ros hl2ss.launch.py host:=192.168.1.7 [stream:=long_throw|ahat] [output:=pinhole|radial]
   [segmentation_input:=segmentation|image_detections|image_table] [class_table:='41:cup,56:chair']

A real HoloLens 2 through hl2ss_bridge feeding observation + reconstruction + Unity bridge; parameters
from config/occnet.yaml. output:=radial publishes radial depth + depth/ray_table and switches the
observation node to camera_model ray_table.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

from occnet_ros.nodes.registry import HL2SS_BRIDGE, RECONSTRUCT_NODES


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("occnet_ros"))
    arg = LaunchConfiguration
    arguments = [
        DeclareLaunchArgument("params_file", default_value=str(share / "config" / "occnet.yaml")),
        DeclareLaunchArgument("host", description="the HoloLens 2's address"),
        DeclareLaunchArgument("stream", default_value="long_throw"),
        DeclareLaunchArgument("output", default_value="pinhole"),
        DeclareLaunchArgument("hl2ss_client", default_value="hl2ss"),
        DeclareLaunchArgument("segmentation_input", default_value="segmentation"),
        DeclareLaunchArgument("segmentation_ids", default_value="instance"),
        DeclareLaunchArgument("class_table", default_value=""),
        DeclareLaunchArgument("segmentation_image_topic", default_value="segmentation/image"),
        DeclareLaunchArgument("detections_topic", default_value="segmentation/detections"),
    ]
    camera_model = PythonExpression(["'ray_table' if '", arg("output"), "' == 'radial' else 'pinhole'"])
    overrides = {
        "observation": {"camera_model": camera_model, "segmentation_input": arg("segmentation_input"),
                        "segmentation_ids": arg("segmentation_ids"), "class_table": arg("class_table"),
                        "segmentation_image_topic": arg("segmentation_image_topic"), "detections_topic": arg("detections_topic")},
    }
    bridge = Node(package="occnet_ros", executable=HL2SS_BRIDGE.executable, name=HL2SS_BRIDGE.name, output="screen",
                  parameters=[arg("params_file"), {"host": arg("host"), "stream": arg("stream"), "output": arg("output"),
                                                   "hl2ss_client": arg("hl2ss_client")}])
    nodes = [
        Node(package="occnet_ros", executable=entry.executable, name=entry.name, output="screen",
             parameters=[arg("params_file"), overrides.get(entry.name, {})])
        for entry in RECONSTRUCT_NODES
    ]
    return LaunchDescription([*arguments, bridge, *nodes])
