"""Helpers of the analysis scripts in tools/ that decide what a reported figure covers."""

import importlib.util
import json
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


def test_validation_study_pairs_objects_and_skips_missing_values():
    """The study's difference is per object, over the objects both runs measured at that view count."""
    tool = load_tool("validation_study")
    base = [{"object": "a", "views": 3, "f": 0.5}, {"object": "b", "views": 3, "f": 0.7}, {"object": "c", "views": 3, "f": None},
            {"object": "a", "views": 5, "f": 0.9}]
    other = [{"object": "a", "views": 3, "f": 0.6}, {"object": "b", "views": 3, "f": 0.6}, {"object": "c", "views": 3, "f": 0.1},
             {"object": "d", "views": 3, "f": 1.0}]
    result = tool.paired(base, other, 3, "f")
    assert result["objects"] == 2 and result["wins"] == 1
    assert abs(result["base"] - 0.6) < 1e-9 and abs(result["mean"] - 0.6) < 1e-9
    assert abs(result["diff"]) < 1e-9 and abs(result["se"] - 0.1) < 1e-9


def test_validation_study_runs_eval_with_the_sensor_and_keeps_its_records(tmp_path, monkeypatch):
    """Each split's eval gets the study's sensor preset; a kept records file is read, not re-run."""
    import json

    tool = load_tool("validation_study")
    commands = []

    def fake_run(command, check):
        commands.append(command)
        Path(command[command.index("--json") + 1]).write_text(json.dumps([{"method": "occnet", "object": "a"},
                                                                           {"method": "tsdf", "object": "a"}]))

    monkeypatch.setattr(tool.subprocess, "run", fake_run)
    out = tmp_path / "val_hololens2_long_throw_k4.json"
    records = tool.run_eval(Path("m.pt"), ["--split", "val"], "3,5", 4, out, sensor="hololens2_long_throw",
                            eval_args=("--max-handles", "-1"))
    assert records == [{"method": "occnet", "object": "a"}]
    command = commands[0]
    assert command[command.index("--sensor") + 1] == "hololens2_long_throw"
    assert command[command.index("--input-resamplings") + 1] == "4"
    assert command[command.index("--max-handles") + 1] == "-1"
    tool.run_eval(Path("m.pt"), ["--split", "val"], "3,5", 4, out, sensor="hololens2_long_throw")
    assert len(commands) == 1


def test_validation_study_variants_name_a_checkpoint_and_resamplings():
    import argparse

    import pytest

    tool = load_tool("validation_study")
    assert tool.parse_variant("k1=models/a.pt@1") == ("k1", Path("models/a.pt"), 1, ())
    assert tool.parse_variant("new=runs/x/best.pt") == ("new", Path("runs/x/best.pt"), None, ())
    assert tool.parse_variant("open=models/a.pt@4 --max-handles -1").eval_args == ("--max-handles", "-1")
    for bad in ("models/a.pt", "=a.pt", "k=a.pt@four"):
        with pytest.raises(argparse.ArgumentTypeError):
            tool.parse_variant(bad)


def test_training_curves_keep_the_last_record_of_a_repeated_step_and_mark_chunk_starts(tmp_path):
    """A resumed chunk may log a step again (its state was saved before that step's record): the curve
    keeps the later record, and a grey line marks each chunk's first validation."""
    tool = load_tool("plot_curves")
    lines = [{"step": 0, "chunk": 1, "val_iou": 0.60}, {"step": 250, "chunk": 1, "val_iou": 0.61},
             {"step": 250, "chunk": 2, "val_iou": 0.62}, {"step": 500, "chunk": 2, "val_iou": 0.63},
             {"step": 750, "chunk": 3, "val_iou": 0.64}]
    path = tmp_path / "run.metrics.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in [lines[1], lines[0], *lines[2:]]) + "\n\n")
    rows = tool.read_rows(path)
    assert [(r["step"], r["val_iou"]) for r in rows] == [(0, 0.60), (250, 0.62), (500, 0.63), (750, 0.64)]
    assert tool.chunk_starts(rows) == [250, 750]
