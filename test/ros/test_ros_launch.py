"""Both launch files run for real: `ros2 launch` (the user's command) and `launch_test` (launch_testing).

reconstruct.launch.py under a namespace, with its arguments checked through `ros2 param` and
`ros2 topic` against the running nodes; demo.launch.py under launch_testing until a mesh arrives on `objects`; every
process ends cleanly on shutdown. Skipped (with the reason) where the ROS 2 tools are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ros_helpers import MISSING, REPO, ros2_until, start_launch, stop_launch

if MISSING:
    pytest.skip(MISSING, allow_module_level=True)



def params_file(folder: Path, **changes: dict) -> Path:
    """The shipped YAML, bridge on a free port, plus per-node changes."""
    config = yaml.safe_load((REPO / "config" / "occnet.yaml").read_text())
    config["unity_bridge"]["ros__parameters"]["port"] = 0
    for node, values in changes.items():
        config[node]["ros__parameters"].update(values)
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def finished_output(process: subprocess.Popen, timeout: float) -> str:
    """The output of a launch expected to end by itself; one that does not is killed (with its
    nodes: a launch left running would load the machine for every later test) and fails the test."""
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        code, output = stop_launch(process)
        pytest.fail(f"the launch did not end within {timeout} s (stopped, exit {code}):\n{output[-3000:]}")


def clean_exits(output: str, count: int) -> None:
    assert output.count("process has finished cleanly") == count, output[-4000:]
    assert "Traceback" not in output and "process has died" not in output, output[-4000:]


def test_reconstruct_launch_namespace_arguments_ros2_param_and_topic(tmp_path):
    path = params_file(tmp_path, observation={"max_views_per_object": 7})
    process = start_launch("reconstruct.launch.py", "namespace:=robot1", f"params_file:={path}", "world_frame:=odom",
                           "depth_topic:=/cam/depth", "device:=cpu", "log_level:=info")
    try:
        got = ros2_until(["param", "get", "--no-daemon", "/robot1/observation", "world_frame"], lambda r: "odom" in r.stdout)
        assert got.stdout.strip() == "String value is: odom", (got.stdout, got.stderr)
        # the namespaced node found its section of the params file
        views = ros2_until(["param", "get", "--no-daemon", "/robot1/observation", "max_views_per_object"], lambda r: "7" in r.stdout)
        assert views.stdout.strip() == "Integer value is: 7", (views.stdout, views.stderr)
        frame = ros2_until(["param", "get", "--no-daemon", "/robot1/reconstruction", "world_frame"], lambda r: "odom" in r.stdout)
        assert "odom" in frame.stdout
        changed = ros2_until(["param", "set", "--no-daemon", "/robot1/observation", "min_score", "0.5"],
                             lambda r: "Set parameter successful" in r.stdout)
        assert "Set parameter successful" in changed.stdout, (changed.stdout, changed.stderr)
        refused = ros2_until(["param", "set", "--no-daemon", "/robot1/observation", "world_frame", "elsewhere"],
                             lambda r: "read-only" in r.stdout + r.stderr)
        assert "read-only" in refused.stdout + refused.stderr, (refused.stdout, refused.stderr)
        expected = {"/robot1/objects", "/robot1/markers", "/robot1/objects/observations", "/cam/depth"}
        topics = ros2_until(["topic", "list", "--no-daemon"], lambda r: expected <= set(r.stdout.split()))
        assert expected <= set(topics.stdout.split()), topics.stdout
        info = ros2_until(["topic", "info", "--no-daemon", "/cam/depth"], lambda r: "Subscription count: 1" in r.stdout)
        assert "Subscription count: 1" in info.stdout and "sensor_msgs/msg/Image" in info.stdout, info.stdout
        expected = {"/robot1/observation", "/robot1/reconstruction", "/robot1/unity_bridge"}
        nodes = ros2_until(["node", "list", "--no-daemon"], lambda r: expected <= set(r.stdout.split()))
        assert expected <= set(nodes.stdout.split()), nodes.stdout
        assert process.poll() is None
    finally:
        code, output = stop_launch(process)
    assert code == 0, output[-4000:]
    clean_exits(output, 3)


def test_rviz_follows_the_namespace_and_the_sensor_remaps():
    """use_rviz:=true under a namespace: RViz's config topics are remapped to where the nodes publish."""
    from occnet_ros.nodes.launch_support import rviz_remappings, rviz_topics

    topics = rviz_topics(REPO / "config" / "occnet.rviz")
    assert topics == ["/markers", "/objects/cloud", "/depth/image"]
    assert rviz_remappings(topics, "", {"depth/image": "depth/image"}) == []
    assert rviz_remappings(topics, "/robot1/", {"depth/image": "/cam/depth"}) == [
        ("/markers", "/robot1/markers"), ("/objects/cloud", "/robot1/objects/cloud"), ("/depth/image", "/cam/depth")]
    assert rviz_remappings(topics, "robot1", {"depth/image": "hl2/depth"})[-1] == ("/depth/image", "/robot1/hl2/depth")


@pytest.mark.parametrize("argument, expected", [("params_file:=/no/such/params.yaml", "'params_file': no such file '/no/such/params.yaml'"),
                                                ("use_sim_time:=maybe", 'Argument "use_sim_time" provided value "maybe" is not valid'),
                                                ("log_level:=loud", 'Argument "log_level" provided value "loud" is not valid'),
                                                ("bag_rate:=fast", "launch argument 'bag_rate': 'fast' is not a number")])
def test_bad_launch_argument_fails_naming_it(argument, expected):
    process = start_launch("reconstruct.launch.py", argument)
    output = finished_output(process, 120)
    assert process.returncode != 0 and expected in output, output[-3000:]
    assert "process started" not in output


def test_reconstruct_launch_replays_a_bag_on_sim_time(tmp_path):
    """bag:= adds a replay node that plays the recording into the observation node; with
    use_sim_time:=true it publishes /clock and the nodes follow it."""
    from occnet_ros.bags.recorder import record_simulation
    from occnet_ros.sim.hololens import SimSettings

    bag = record_simulation(tmp_path / "sim.bag", SimSettings(seed=2, num_objects=1, num_frames=12), 12).path
    process = start_launch("reconstruct.launch.py", f"bag:={bag}", "bag_rate:=0.1", "use_sim_time:=true", "use_bridge:=false",
                           f"params_file:={params_file(tmp_path)}", "device:=cpu")
    try:
        sim_time = ros2_until(["param", "get", "--no-daemon", "/observation", "use_sim_time"], lambda r: "True" in r.stdout)
        assert sim_time.stdout.strip() == "Boolean value is: True", (sim_time.stdout, sim_time.stderr)
        clock = ros2_until(["topic", "echo", "--once", "--timeout", "20", "--no-daemon", "/clock"], lambda r: "sec:" in r.stdout, timeout=60)
        assert "sec: 1704067" in clock.stdout, clock.stdout  # the recording's time (2024-01-01), not the wall clock
        observed = ros2_until(["topic", "echo", "--once", "--timeout", "20", "--no-daemon", "--field", "class_name",
                               "/objects/observations"],
                              lambda r: r.stdout.strip() not in ("", "---"), timeout=120)
        assert observed.stdout.strip().strip("-").strip(), (observed.stdout, observed.stderr)
    finally:
        code, output = stop_launch(process)
    assert code == 0, output[-4000:]
    assert "replay" in output and "Traceback" not in output, output[-4000:]


def test_invalid_parameter_in_params_file_fails_naming_it(tmp_path):
    path = params_file(tmp_path, observation={"max_views_per_object": "ten"})
    process = start_launch("reconstruct.launch.py", f"params_file:={path}")
    output = finished_output(process, 120)
    assert process.returncode != 0 and "max_views_per_object" in output and str(path) in output, output[-3000:]


def test_demo_launch_with_launch_testing(tmp_path):
    """demo.launch.py under `launch_test`: a mesh on `objects`, no bridge, every process exits 0."""
    path = params_file(tmp_path, hololens_sim={"rate_hz": 4.0, "num_objects": 1, "num_frames": 0},
                       observation={"reconstruct_every_views": 2}, reconstruction={"torch_threads": 1})
    launch_test = shutil.which("launch_test")
    assert launch_test, "launch_test (launch_testing) is not on PATH"
    result = subprocess.run([sys.executable, launch_test, str(Path(__file__).parent / "launch_testing" / "demo_launch.py")],
                            env={**os.environ, "OCCNET_PARAMS_FILE": str(path)}, capture_output=True, text=True, timeout=400)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "OCCNET: mesh of object" in output and "OCCNET: 3 processes ended with exit code 0" in output, output[-5000:]
    clean_exits(output, 3)
