"""Launch files, statically: they parse, define generate_launch_description and take their node
list from the registry (test/ros/test_ros_launch.py runs them with `ros2 launch`)."""

from __future__ import annotations

import ast

from paths import REPO

from occnet_ros.nodes.registry import DEMO_NODES, RECONSTRUCT_NODES


def test_launch_files_use_the_shared_node_list():
    for name, expected in (("reconstruct.launch.py", "RECONSTRUCT_NODES"), ("demo.launch.py", "HOLOLENS_SIM")):
        tree = ast.parse((REPO / "launch" / name).read_text())
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "occnet_ros.nodes.registry" for a in n.names}
        assert "generate_launch_description" in functions and expected in imported


def test_node_list_matches_installed_executables_and_cmake():
    cmake = (REPO / "CMakeLists.txt").read_text()
    for entry in DEMO_NODES:
        assert f"scripts/{entry.executable}" in cmake
        assert (REPO / "scripts" / entry.executable).read_text().count(f"occnet_ros.nodes.{entry.name}") == 1
        assert entry.load().__name__ == entry.cls
    assert set(RECONSTRUCT_NODES) < set(DEMO_NODES)
