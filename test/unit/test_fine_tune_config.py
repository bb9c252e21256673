"""`occnet train --init`: the checkpoint's input preparation, line-of-sight points included, is
what the fine-tuning examples get (a line-of-sight model fine-tuned without them would learn to
ignore its second branch)."""

from __future__ import annotations

from pathlib import Path

from occnet_ros.cli.train import fine_tune_config

REPO = Path(__file__).resolve().parents[2]


def test_fine_tuning_keeps_the_checkpoints_input_preparation(tmp_path):
    evidence = fine_tune_config({}, REPO / "models" / "conv_onet_evidence.pt", tmp_path / "meshes")
    assert evidence["data"]["example"]["free_points"] == 512 and evidence["model"]["line_of_sight"] is True
    assert evidence["data"]["sources"] == [{"type": "mesh_dir", "path": str(tmp_path / "meshes")}]
    point_only = fine_tune_config({}, REPO / "models" / "conv_onet_procedural.pt", None)
    assert point_only["data"]["example"].get("free_points", 0) == 0 and not point_only["model"].get("line_of_sight")
