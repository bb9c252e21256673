"""Node executables start with config/occnet.yaml, declare its parameters, shut down cleanly."""

from __future__ import annotations

import time

import pytest
import yaml
from rcl_interfaces.srv import GetParameters
from ros_helpers import REPO, call_service, ros_context, start_node, stop_node

from occnet_ros.nodes.parameters import NODES, params_yaml, validate_params_file


def test_config_file_matches_the_parameter_specs():
    config = yaml.safe_load((REPO / "config" / "occnet.yaml").read_text())
    assert config == yaml.safe_load(params_yaml())
    assert validate_params_file(REPO / "config" / "occnet.yaml") == []


def changed_config(tmp_path, checkpoint) -> tuple:
    """The shipped YAML with one value per node changed, so the test sees the file was read."""
    config = yaml.safe_load((REPO / "config" / "occnet.yaml").read_text())
    config["observation"]["ros__parameters"]["max_views_per_object"] = 7
    config["reconstruction"]["ros__parameters"]["checkpoint"] = str(checkpoint)
    config["reconstruction"]["ros__parameters"]["max_triangles"] = 3000
    config["unity_bridge"]["ros__parameters"]["port"] = 0
    config["hololens_sim"]["ros__parameters"]["rate_hz"] = 2.0
    # a bridge that finds no device keeps retrying (back-off) and stays up
    config["hl2ss_bridge"]["ros__parameters"].update(host="127.0.0.1", port=9, hl2ss_client="builtin", timeout_s=0.5)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


@pytest.mark.parametrize("name", list(NODES))
def test_node_declares_parameters_from_yaml_and_stops_cleanly(name, tmp_path, tiny_checkpoint):
    path, config = changed_config(tmp_path, tiny_checkpoint)
    expected = config[name]["ros__parameters"]
    process = start_node(name, "--params-file", str(path))
    try:
        with ros_context() as context:
            import rclpy

            node = rclpy.create_node("param_probe", context=context)
            client = node.create_client(GetParameters, f"/{name}/get_parameters")
            assert process.poll() is None, stop_node(process)[2][-2000:]
            values = list(call_service(node, client, GetParameters.Request(names=list(expected)), context).values)
            node.destroy_node()
        from rclpy.parameter import parameter_value_to_python

        got = dict(zip(expected, (parameter_value_to_python(v) for v in values)))
        assert got == expected
    finally:
        code, out, err = stop_node(process)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err


def test_wrong_parameter_type_fails_naming_the_parameter(tmp_path):
    config = yaml.safe_load((REPO / "config" / "occnet.yaml").read_text())
    config["observation"]["ros__parameters"]["max_views_per_object"] = "ten"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert any("max_views_per_object" in p for p in validate_params_file(path))
    process = start_node("observation", "--params-file", str(path))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "max_views_per_object" in err and "Traceback" not in err


def test_missing_checkpoint_fails_the_start_clearly(tmp_path):
    process = start_node("reconstruction", "-p", f"checkpoint:={tmp_path / 'nope.pt'}")
    start = time.monotonic()
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "checkpoint not found" in err, err
    assert time.monotonic() - start < 60
