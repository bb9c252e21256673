"""Helpers of the analysis scripts in tools/ that decide what a reported figure covers."""

import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_records_are_grouped_by_the_source_they_came_from():
    tool = load_tool("val_iou_by_views")
    names = ["procedural-chair-1000000.npz", "procedural-primitives-1000003.npz", "pybullet-17.npz",
             "sh3d-scopia-kitchen-stool.npz", "procedural-mug-1000001.npz", "meshdir-x.npz"]
    groups = tool.by_source([Path("cache/val") / name for name in names])
    assert {group: [path.name for path in paths] for group, paths in groups.items()} == {
        "other": ["meshdir-x.npz"],
        "procedural": ["procedural-chair-1000000.npz", "procedural-mug-1000001.npz"],
        "primitives": ["procedural-primitives-1000003.npz"],
        "pybullet": ["pybullet-17.npz"],
        "furniture": ["sh3d-scopia-kitchen-stool.npz"],
    }
