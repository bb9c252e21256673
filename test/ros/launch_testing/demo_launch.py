"""launch_testing description of demo.launch.py, run by test_ros_launch.py through `launch_test`
(launch_testing's and launch_pytest's pytest plugins do not load under pytest 9).

Simulator + pipeline without the bridge, parameters from $OCCNET_PARAMS_FILE: a mesh arrives on
`objects`, the bridge is not started (use_bridge:=false), and every process exits with 0.
"""

from __future__ import annotations

import os
import time
import unittest
from pathlib import Path

import launch_testing
import launch_testing.actions
import launch_testing.asserts
import rclpy
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from occnet_ros.msg import ReconstructedObject


def generate_test_description() -> LaunchDescription:
    launch_file = Path(get_package_share_directory("occnet_ros")) / "launch" / "demo.launch.py"
    arguments = {"params_file": os.environ["OCCNET_PARAMS_FILE"], "use_bridge": "false", "device": "cpu"}
    demo = IncludeLaunchDescription(PythonLaunchDescriptionSource(str(launch_file)), launch_arguments=arguments.items())
    return LaunchDescription([demo, launch_testing.actions.ReadyToTest()])


class TestDemoMeshes(unittest.TestCase):
    def test_a_mesh_arrives_on_objects(self, proc_info) -> None:
        context = rclpy.context.Context()
        rclpy.init(context=context)
        received: list[ReconstructedObject] = []
        try:
            node = rclpy.create_node("demo_launch_probe", context=context)
            node.create_subscription(ReconstructedObject, "objects", received.append, 10)
            executor = rclpy.executors.SingleThreadedExecutor(context=context)
            executor.add_node(node)
            deadline = time.monotonic() + float(os.environ.get("OCCNET_MESH_TIMEOUT_S", "240"))
            done = lambda: any(m.status == ReconstructedObject.STATUS_RECONSTRUCTED for m in received)  # noqa: E731
            while not done() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
            names = node.get_node_names()
            executor.shutdown()
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)
        self.assertTrue(done(), [m.status_message for m in received])
        mesh = next(m for m in received if m.status == ReconstructedObject.STATUS_RECONSTRUCTED)
        self.assertTrue(mesh.watertight and len(mesh.mesh.triangles) > 0)
        self.assertIn("hololens_sim", names)
        self.assertNotIn("unity_bridge", names)
        print(f"OCCNET: mesh of object {mesh.id} ({mesh.class_name}), {len(mesh.mesh.triangles)} triangles")


@launch_testing.post_shutdown_test()
class TestDemoShutdown(unittest.TestCase):
    def test_every_process_ends_cleanly(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
        self.assertEqual(len(proc_info.process_names()), 3, proc_info.process_names())
        print(f"OCCNET: {len(proc_info.process_names())} processes ended with exit code 0")
