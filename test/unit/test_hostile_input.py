"""The bad-input matrix of issue 19, pure rows: each bad input gives a counted skip or a clear
error, never a crash or a wrong result."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import trimesh

from occnet_ros.complete.plausibility import ImplausibleCloudError, check_cloud
from occnet_ros.geometry.camera import HL2_LONG_THROW, Intrinsics, transform_points
from occnet_ros.geometry.files import mesh_file_name, path_inside, read_points
from occnet_ros.observe.frame import FrameSettings, InstanceInfo, mask_in_depth_camera, split_instances
from occnet_ros.observe.guard import (
    MAX_CLASS_NAME_CHARS,
    InputRejected,
    SequenceGaps,
    StampGate,
    StampJumpWatch,
    bound_class_name,
    objects_to_retire,
)

SETTINGS = FrameSettings(outlier_neighbors=0, cluster_radius_m=0.0, mask_erosion_px=0)


def flat_frame(value=1):
    depth = np.full((HL2_LONG_THROW.height, HL2_LONG_THROW.width), 1.5, dtype=np.float32)
    mask = np.zeros(depth.shape, dtype=np.uint16)
    mask[100:160, 100:180] = value
    return depth, mask


def test_mask_camera_size_disagreeing_with_the_mask_is_rejected_with_a_reason():
    depth, _ = flat_frame()
    mask_intrinsics = Intrinsics(320, 288, 200.0, 200.0, 160.0, 144.0)
    small = np.ones((144, 160), dtype=np.uint16)
    with pytest.raises(InputRejected, match="160x144 but its camera_info says 320x288") as caught:
        split_instances(depth, HL2_LONG_THROW, small, [InstanceInfo(1, "box")], np.eye(4), 0.0, SETTINGS,
                        (mask_intrinsics, np.eye(4)))
    assert caught.value.reason == "mask_size_mismatch"
    with pytest.raises(ValueError):
        mask_in_depth_camera(np.ones((4, 3)), small, mask_intrinsics, np.eye(4))


def test_float_mask_with_non_integer_ids_is_rejected_not_truncated():
    depth, mask = flat_frame()
    with pytest.raises(InputRejected, match="non-integer") as caught:
        split_instances(depth, HL2_LONG_THROW, mask.astype(np.float32) * 1.7, [InstanceInfo(1, "box")], np.eye(4), 0.0, SETTINGS)
    assert caught.value.reason == "mask_non_integer_ids"
    whole = split_instances(depth, HL2_LONG_THROW, mask.astype(np.float32), [InstanceInfo(1, "box")], np.eye(4), 0.0, SETTINGS)
    assert len(whole.views) == 1  # whole-number float ids are fine


def test_nan_score_and_ids_missing_from_the_mask_have_their_own_reasons():
    depth, mask = flat_frame()
    infos = [InstanceInfo(1, "box", score=float("nan")), InstanceInfo(7, "ghost", score=0.9)]
    result = split_instances(depth, HL2_LONG_THROW, mask, infos, np.eye(4), 0.0, SETTINGS)
    assert result.views == []
    assert result.skipped["invalid_score"] == 1 and result.skipped["missing_from_mask"] == 1
    assert result.skipped["too_few_points"] == 0


def test_nan_principal_point_is_named_as_such():
    with pytest.raises(ValueError, match="invalid principal point"):
        Intrinsics.from_k(320, 288, [200, 0, float("nan"), 0, 200, 144, 0, 0, 1])
    with pytest.raises(ValueError, match="invalid focal lengths"):
        Intrinsics.from_k(320, 288, [0, 0, 160, 0, 200, 144, 0, 0, 1])


def test_class_names_are_bounded_and_counted():
    name, cut = bound_class_name("x" * 70_000)
    assert cut and len(name) == MAX_CLASS_NAME_CHARS
    assert bound_class_name("chair") == ("chair", False)
    assert bound_class_name("a\x00b\nc") == ("abc", True)


@pytest.mark.parametrize("class_name", ["x/../../../../elsewhere/NAME", "../../etc/passwd", "..", "/abs/path", "a\\b:c", "é" * 300, ""])
def test_mesh_file_names_stay_inside_the_folder(tmp_path, class_name):
    name = mesh_file_name(7, class_name, "obj")
    assert name.startswith("object_007_") and name.endswith(".obj") and len(name) <= 52
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    assert path_inside(tmp_path, name).parent == tmp_path.resolve()
    with pytest.raises(ValueError, match="outside"):
        path_inside(tmp_path, "../NAME.obj")


def test_stamp_jump_forwards_does_not_block_later_frames():
    gate = StampGate(max_jump_s=60.0)
    verdicts = []
    for stamp in (10.0, 10.1, 1010.1, 10.2, 10.3):  # one glitched stamp 1,000 s ahead
        verdict = gate.check(stamp)
        verdicts.append(verdict)
        if verdict in ("ok", "reset"):
            gate.commit(stamp)
    assert verdicts == ["ok", "ok", "stamp_jump_forward", "ok", "ok"]
    for stamp in (2000.0, 2000.1, 2000.2):  # a real clock change: confirmed by the next frame
        verdict = gate.check(stamp)
        verdicts.append(verdict)
        if verdict in ("ok", "reset"):
            gate.commit(stamp)
    assert verdicts[-3:] == ["stamp_jump_forward", "reset", "ok"]
    assert gate.check(5.0) == "stamp_backwards" and gate.check(float("nan")) == "stamp_invalid"


def test_sequence_gaps_are_counted():
    gaps = SequenceGaps()
    assert [gaps.observe("a", s) for s in (1, 2, 5, 6)] == [0, 0, 2, 0] and gaps.lost == 2
    assert gaps.observe("a", 0) == 0 and gaps.observe("b", 2**64 - 1) == 0  # unsupported: no guess


def test_object_cap_retires_the_least_seen_then_the_oldest():
    objects = [SimpleNamespace(id=i, views_seen=v, last_seen=t) for i, v, t in ((1, 9, 5.0), (2, 1, 1.0), (3, 1, 2.0), (4, 1, 9.0))]
    assert objects_to_retire(objects, 2, keep=[4]) == [2, 3]
    assert objects_to_retire(objects, 0) == [] and objects_to_retire(objects, 10) == []


def sphere_points(count=2000, radius=0.1, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(count, 3))
    return radius * d / np.linalg.norm(d, axis=1, keepdims=True)


def test_one_huge_outlier_is_cleaned_not_stretched():
    points = sphere_points()
    points[0] = [1e30, 0.0, 0.0]
    checked = check_cloud(points)
    assert checked.dropped_outliers >= 1 and checked.extent_m < 0.25


@pytest.mark.parametrize("points, reason", [
    (np.linspace([0, 0, 0], [0.3, 0, 0], 500), "collinear"),
    (np.c_[np.random.default_rng(1).uniform(0, 0.3, (500, 2)), np.zeros(500)], "planar"),
    (np.random.default_rng(2).uniform(0, 50, (500, 3)), "implausible size"),
])
def test_implausible_clouds_are_rejected_with_the_reason(points, reason):
    with pytest.raises(ImplausibleCloudError, match=reason):
        check_cloud(points, "chair")


def test_flat_classes_may_be_planar():
    plane = np.c_[np.random.default_rng(1).uniform(0, 0.3, (500, 2)), np.zeros(500)]
    assert len(check_cloud(plane, "book").points) == 500


def test_far_from_the_origin_reconstructs_like_at_the_origin(tiny_checkpoint):
    from occnet_ros.complete.pipeline import ObjectPipeline
    from occnet_ros.complete.reconstruct import load_reconstructor

    pipeline = ObjectPipeline(load_reconstructor(tiny_checkpoint, "cpu", 16, 1))
    points = sphere_points() + [0.0, 0.0, 0.1]
    offset = np.array([1e6, -1e6, 0.0])
    near, far = pipeline.run(points), pipeline.run(points + offset)
    assert np.abs(far.mesh_world.vertices - offset - near.mesh_world.vertices).max() < 1e-6
    assert np.allclose(far.frame.pose[:3, 3] - offset, near.frame.pose[:3, 3], atol=1e-6)
    with pytest.raises(ImplausibleCloudError, match="collinear"):
        pipeline.run(np.linspace([0, 0, 0], [0.3, 0, 0], 500))


def test_cli_unsupported_and_broken_files_and_half_nan_input(tmp_path, tiny_checkpoint, capsys):
    from occnet_ros.cli.main import main

    text = tmp_path / "cloud.txt"
    text.write_text("1 2 3\n")
    assert main(["reconstruct", str(text), "--out", str(tmp_path / "m.obj")]) == 2
    assert "unsupported point cloud format '.txt'" in capsys.readouterr().err
    broken = tmp_path / "broken.ply"
    broken.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nend_header\n\x00\x01")
    with pytest.raises(ValueError, match="broken.ply"):
        read_points(broken)
    assert main(["reconstruct", str(broken), "--out", str(tmp_path / "m.obj")]) == 2
    assert "broken.ply" in capsys.readouterr().err
    points = sphere_points(400) + [0, 0, 0.1]
    points[::2] = np.nan
    np.save(tmp_path / "half.npy", points)
    assert main(["reconstruct", str(tmp_path / "half.npy"), "--out", str(tmp_path / "m.obj"), "--checkpoint", str(tiny_checkpoint),
                 "--resolution0", "16", "--upsampling-steps", "0"]) == 0
    assert "dropped 200 of 400 points with NaN/inf" in capsys.readouterr().err
    assert trimesh.load(tmp_path / "m.obj", force="mesh").vertices.shape[0] > 0


def test_transform_points_unchanged():  # the far-origin fix recentres; geometry helpers stay float64
    assert transform_points(np.eye(4), np.ones((1, 3))).dtype == np.float64


def test_stamp_jump_back_asks_for_one_reset_per_jump_across_inputs():
    watch = StampJumpWatch(3, reset_s=1.0)
    for stamp in (10.0, 10.1, 10.2):
        assert all(watch.observe(i, stamp) is None for i in range(3))
    assert watch.observe(0, 9.9) is None  # within reset_s: the forward/backward gate's business
    assert watch.observe(1, 2.0) == pytest.approx(8.2)  # the loop starts over: one reset
    assert watch.observe(0, 2.0) is None and watch.observe(2, 2.0) is None  # the same jump on the others
    assert watch.resets == 1
    assert watch.observe(0, 1.0) is None  # after the reset the newest is the new timeline
    assert watch.observe(2, -5.0) == pytest.approx(7.0) and watch.resets == 2


def test_a_lone_stamp_far_ahead_is_no_newest_for_the_jump_back_watch():
    watch = StampJumpWatch(1, reset_s=1.0, max_forward_s=10.0)
    assert watch.observe(0, 100.0) is None
    assert watch.observe(0, 1100.0) is None  # the StampGate's glitch
    assert watch.observe(0, 100.1) is None and watch.resets == 0  # back to normal: no reset
    assert watch.observe(0, 1100.0) is None and watch.observe(0, 1100.1) is None  # confirmed: the new timeline
    assert watch.observe(0, 100.2) == pytest.approx(999.9) and watch.resets == 1
