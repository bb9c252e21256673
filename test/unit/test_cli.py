"""`occnet reconstruct`, `eval` and `bench` end to end on small inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from occnet_ros.cli.main import main
from occnet_ros.learn.records import RecordSpec, render_views
from occnet_ros.shapes.catalog import make_shape


def partial_cloud(tmp_path, category="mug", seed=2_000_001):
    mesh = make_shape(category, np.random.default_rng(seed))
    views = render_views(mesh, np.random.default_rng(0), RecordSpec(views=3))
    points = np.concatenate([v.points for v in views])
    trimesh.PointCloud(points).export(tmp_path / "cloud.ply")
    return tmp_path / "cloud.ply", mesh


def test_reconstruct_writes_a_watertight_mesh_in_the_input_frame(tmp_path, tiny_checkpoint, capsys):
    cloud, _ = partial_cloud(tmp_path)
    out = tmp_path / "mesh.obj"
    assert main(["reconstruct", str(cloud), "--out", str(out), "--checkpoint", str(tiny_checkpoint),
                 "--resolution0", "16", "--max-triangles", "2000"]) == 0
    mesh = trimesh.load(out, force="mesh")
    points = trimesh.load(cloud).vertices
    assert mesh.is_watertight and len(mesh.faces) <= 2000
    # the mesh lies around the input, in metres, not in the unit box
    assert np.linalg.norm(mesh.bounds.mean(0) - (points.min(0) + points.max(0)) / 2) < 0.1
    assert "watertight=True" in capsys.readouterr().out


@pytest.mark.parametrize("points, message", [
    (np.zeros((0, 3)), "no finite points"),
    (np.full((50, 3), np.nan), "no finite points"),
    (np.ones((1, 3)), "at least"),
    (np.ones((40, 3)), "too small"),
])
def test_reconstruct_bad_clouds_fail_with_a_message(tmp_path, tiny_checkpoint, capsys, points, message):
    np.save(tmp_path / "bad.npy", points)
    code = main(["reconstruct", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "m.obj"), "--checkpoint", str(tiny_checkpoint)])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "m.obj").exists()


def test_reconstruct_with_a_corrupt_checkpoint_fails_clearly(tmp_path, capsys):
    cloud, _ = partial_cloud(tmp_path)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    assert main(["reconstruct", str(cloud), "--out", str(tmp_path / "m.obj"), "--checkpoint", str(tmp_path / "bad.pt")]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_eval_writes_stable_json_and_a_report(tmp_path, tiny_checkpoint):
    meshes = tmp_path / "gt"
    meshes.mkdir()
    make_shape("bowl", np.random.default_rng(5)).export(meshes / "bowl.ply")
    (meshes / "broken.obj").write_text("v 0 0 0\nthis is not a mesh\n")  # reported and skipped
    out = tmp_path / "eval.json"
    assert main(["eval", "--meshes", str(meshes), "--views", "1,3", "--methods", "occnet,tsdf,hull",
                 "--checkpoint", str(tiny_checkpoint), "--resolution0", "16", "--json", str(out), "--surface-samples", "10000",
                 "--report", str(tmp_path / "report")]) == 0
    records = json.loads(out.read_text())
    assert len(records) == 2 * 3  # one object (the broken one skipped) x 2 view counts x 3 methods
    for r in records:
        assert {"object", "method", "views", "chamfer_l1", "fscore_1pct", "fscore_2pct", "iou", "time_s"} <= set(r)
    hull = [r for r in records if r["method"] == "hull"]
    assert all(r["iou"] is not None and 0 < r["fscore_2pct"] <= 1 for r in hull)
    assert (tmp_path / "report" / "report.md").exists() and (tmp_path / "report" / "fscore_vs_views.png").exists()


def test_eval_renders_with_the_sensor_model_it_is_given(tmp_path, capsys):
    meshes = tmp_path / "gt"
    meshes.mkdir()
    make_shape("mug", np.random.default_rng(5)).export(meshes / "mug.ply")
    points = {}
    for sensor in ("basic", "hololens2_long_throw"):
        out = tmp_path / f"{sensor}.json"
        assert main(["eval", "--meshes", str(meshes), "--views", "3", "--methods", "hull", "--sensor", sensor,
                     "--json", str(out), "--surface-samples", "5000"]) == 0
        points[sensor] = json.loads(out.read_text())[0]["input_points"]
    assert points["basic"] != points["hololens2_long_throw"]
    assert main(["eval", "--meshes", str(meshes), "--methods", "hull", "--sensor", "hololens3"]) == 2
    assert "unknown sensor preset 'hololens3'" in capsys.readouterr().err


def test_eval_on_an_empty_folder_is_an_error(tmp_path, capsys):
    assert main(["eval", "--meshes", str(tmp_path), "--methods", "hull"]) == 2
    assert "holds no meshes" in capsys.readouterr().err


def test_shapes_writes_the_split_seeds_as_watertight_meshes(tmp_path, capsys):
    import trimesh

    from occnet_ros.shapes.catalog import make_shape_by_seed

    assert main(["shapes", "--categories", "bowl", "--split", "test", "--count", "2", "--out", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["bowl-2000000.ply", "bowl-2000001.ply"]
    written = trimesh.load(tmp_path / files[1])
    assert written.is_watertight
    assert abs(written.volume - make_shape_by_seed("bowl", 2_000_001).volume) < 1e-9
    assert main(["shapes", "--categories", "vase", "--out", str(tmp_path)]) == 2
    assert "unknown category 'vase'" in capsys.readouterr().err


def test_bench_times_last_view_to_mesh_per_grid_precision_and_threads(tmp_path, tiny_checkpoint):
    from occnet_ros.complete.reconstruct import Reconstructor
    from occnet_ros.evaluate.bench import end_to_end_records
    from occnet_ros.model.checkpoint import load_checkpoint

    cloud, _ = partial_cloud(tmp_path)
    points = np.asarray(trimesh.load(cloud).vertices)
    records = end_to_end_records(Reconstructor(load_checkpoint(tiny_checkpoint), input_resamplings=3), points, runs=1, threads=(1,))
    names = [r["name"] for r in records]
    assert names == ["end_to_end_64_fp32_1thread", "end_to_end_64_bf16_1thread", "end_to_end_128_fp32_1thread", "end_to_end_128_bf16_1thread"]
    assert all(r["median_s"] > 0 and r["runs"] == 1 for r in records)
    assert all(r["input_resamplings"] == 3 for r in records)  # the variants encode as the reconstructor does


def test_bench_names_the_cpu_it_timed_on(tmp_path):
    from occnet_ros.evaluate.bench import cpu_model, machine

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.0GHz\n\nprocessor\t: 1\n")
    assert cpu_model(cpuinfo) == "Example CPU @ 2.0GHz"
    assert cpu_model(tmp_path / "missing") != ""  # platform's guess, never an error
    assert set(machine()) >= {"cpu_model", "cpus", "torch_threads"}


def test_bench_times_last_view_to_mesh_object_by_object_and_splits_the_time(tiny_checkpoint):
    """The per-object records name the object, split the time into reconstruction and
    post-processing (summing to the total for one run) and leave torch's thread count as it was."""
    import torch

    from occnet_ros.complete.reconstruct import Reconstructor
    from occnet_ros.evaluate.bench import LATENCY_PREFIX, object_latency_records
    from occnet_ros.learn.records import RecordSpec, render_views
    from occnet_ros.model.checkpoint import load_checkpoint
    from occnet_ros.shapes.catalog import make_shape_by_seed

    spec = RecordSpec(views=2)
    scenes = []
    for category in ("mug", "lamp"):
        rendered = render_views(make_shape_by_seed(category, 2_000_000), np.random.default_rng(0), spec, subsample=False)
        scenes.append((category, np.concatenate([v.points for v in rendered]), [v.depth_view(spec.intrinsics) for v in rendered]))
    threads = torch.get_num_threads()
    reconstructor = Reconstructor(load_checkpoint(tiny_checkpoint), input_resamplings=2)
    records = object_latency_records(reconstructor, scenes, runs=1, threads=1)
    assert [r["name"] for r in records] == [f"{LATENCY_PREFIX}mug_2views_1thread", f"{LATENCY_PREFIX}lamp_2views_1thread"]
    for r in records:
        assert r["median_s"] == pytest.approx(r["reconstruct_median_s"] + r["postprocess_median_s"])
        assert r["network_points"] > 0 and r["marching_cubes_triangles"] > 0 and r["input_resamplings"] == 2
    assert torch.get_num_threads() == threads


def test_fusion_flags_set_the_reconstructors_fusion_and_bad_values_fail_clearly(tiny_checkpoint, capsys):
    from occnet_ros.cli.main import build_parser
    from occnet_ros.cli.reconstruct import reconstructor_from_args

    base = ["eval", "--checkpoint", str(tiny_checkpoint)]
    default = reconstructor_from_args(build_parser().parse_args(base))
    tuned = reconstructor_from_args(build_parser().parse_args(
        base + ["--fusion-gain", "4", "--full-weight", "5", "--truncation-fraction", "0.03"]))
    assert (tuned.fusion.gain, tuned.fusion.full_weight, tuned.evidence.truncation_fraction) == (4.0, 5.0, 0.03)
    # the flags left out keep the defaults
    assert tuned.fusion.free_margin == default.fusion.free_margin and tuned.evidence.min_free_views == default.evidence.min_free_views
    assert main(["eval", "--checkpoint", str(tiny_checkpoint), "--limit", "1", "--full-weight", "0"]) == 2
    assert "invalid fusion settings" in capsys.readouterr().err


def test_symmetry_flags_set_the_reconstructors_symmetries_and_bad_values_fail_clearly(tiny_checkpoint, capsys):
    from occnet_ros.cli.main import build_parser
    from occnet_ros.cli.reconstruct import reconstructor_from_args

    base = ["eval", "--checkpoint", str(tiny_checkpoint)]
    default = reconstructor_from_args(build_parser().parse_args(base))
    assert not default.revolution.enabled and default.symmetry.enabled and not default.evidence.copies_fill_only
    tuned = reconstructor_from_args(build_parser().parse_args(
        base + ["--revolution", "on", "--revolution-copies", "8", "--revolution-input", "off", "--copies-tsdf", "fill",
                "--symmetry", "off", "--mirror-icp", "0", "--revolution-icp", "2"]))
    assert tuned.revolution.enabled and tuned.revolution.copies == 8 and not tuned.revolution.turned_input
    assert tuned.symmetry.icp_iterations == 0 and tuned.revolution.icp_iterations == 2 and default.symmetry.icp_iterations > 0
    assert tuned.evidence.copies_fill_only and not tuned.symmetry.enabled
    assert tuned.revolution.max_contradiction == default.revolution.max_contradiction  # left out: the default
    assert main(["eval", "--checkpoint", str(tiny_checkpoint), "--limit", "1", "--revolution-copies", "1"]) == 2
    assert "invalid revolution settings" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tiny_checkpoint), "--limit", "1", "--mirror-icp", "-1"]) == 2
    assert "invalid symmetry settings" in capsys.readouterr().err
