"""The README documents every interface field and every parameter (docs stay current)."""

from __future__ import annotations

import re

from paths import REPO

from occnet_ros.nodes.parameters import NODES


def test_readme_documents_every_field_and_parameter():
    readme = (REPO / "README.md").read_text()
    for path in sorted((REPO / "msg").glob("*.msg")) + sorted((REPO / "srv").glob("*.srv")):
        assert f"occnet_ros/{path.stem}`" in readme, path.name
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*[\w/\[\]]+\s+(\w+)", line)
            if match and not line.lstrip().startswith("#"):
                assert match.group(1) in readme, f"{path.name}: {match.group(1)}"
    for node, specs in NODES.items():
        assert f"#### {node}" in readme
        for param in specs:
            assert f"`{param.name}`" in readme, f"{node}.{param.name}"


def test_readme_documents_every_model_train_record_example_and_sensor_key():
    from dataclasses import fields

    from occnet_ros.geometry.sensor import SensorModel
    from occnet_ros.learn.dataset import ExampleSpec
    from occnet_ros.learn.records import RecordSpec
    from occnet_ros.learn.train import TrainSettings
    from occnet_ros.model.occnet import ModelConfig

    readme = (REPO / "README.md").read_text()
    for settings in (ModelConfig, TrainSettings, RecordSpec, ExampleSpec, SensorModel):
        for field in fields(settings):
            if field.name not in ("out_dir", "intrinsics"):  # set per config, shown in the examples; not a YAML key
                assert f"`{field.name}`" in readme, f"{settings.__name__}.{field.name}"


def test_readme_names_the_two_commands_and_ci_runs_make_test():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert (REPO / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
