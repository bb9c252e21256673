"""The views file of `occnet reconstruct VIEWS.npz`: its format, its errors, and the evidence path."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from occnet_ros.cli.main import main
from occnet_ros.complete.extract import ExtractionSettings
from occnet_ros.complete.reconstruct import Reconstructor
from occnet_ros.geometry.views import ViewError, camera_directions, read_views, views_from_arrays, write_views
from occnet_ros.learn.records import RecordSpec, render_views
from occnet_ros.model.checkpoint import load_checkpoint
from occnet_ros.shapes.catalog import make_shape


def rendered(views: int = 3, category: str = "mug"):
    mesh = make_shape(category, np.random.default_rng(2_000_001))
    spec = RecordSpec(views=views)
    return mesh, [v.depth_view(spec.intrinsics) for v in render_views(mesh, np.random.default_rng(0), spec, subsample=False)]


def arrays(views):
    return {
        "depth": np.stack([v.depth for v in views]), "mask": np.stack([v.mask for v in views]).astype(np.uint8),
        "K": views[0].k, "world_from_camera": np.stack([v.world_from_camera for v in views]),
    }


def test_views_file_round_trip(tmp_path):
    _, views = rendered()
    write_views(tmp_path / "v.npz", views)
    back = read_views(tmp_path / "v.npz")
    assert len(back) == len(views)
    for a, b in zip(views, back):
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_allclose(a.points(), b.points(), atol=1e-6)
    # K given once for all views works the same
    assert len(views_from_arrays(arrays(views))) == len(views)


def broken(name):
    _, views = rendered(2)
    a = arrays(views)
    if name == "missing":
        del a["mask"]
    elif name == "shape":
        a["mask"] = a["mask"][:, :-1]
    elif name == "singular":
        a["K"] = np.zeros((3, 3))
    elif name == "k_shape":
        a["K"] = np.eye(4)
    elif name == "not_rigid":
        a["world_from_camera"] = a["world_from_camera"].copy()
        a["world_from_camera"][1, :3, :3] *= 2.0
    elif name == "nan_pose":
        a["world_from_camera"] = a["world_from_camera"].copy()
        a["world_from_camera"][0, 0, 3] = np.nan
    elif name == "negative":
        a["depth"] = a["depth"].copy()
        a["depth"][1, 0, 0] = -1.0
    elif name == "empty_mask":
        a["mask"] = np.zeros_like(a["mask"])
    elif name == "pose_count":
        a["world_from_camera"] = a["world_from_camera"][:1]
    return a


@pytest.mark.parametrize("name, message", [
    ("missing", "lacks mask"), ("shape", "mask shape"), ("singular", "singular"), ("k_shape", "K must be"),
    ("not_rigid", "view 1: world_from_camera is not a rigid"), ("nan_pose", "view 0: world_from_camera holds NaN"),
    ("negative", "view 1: depth holds negative"), ("empty_mask", "mask is empty"), ("pose_count", "world_from_camera must be (2, 4, 4)"),
])
def test_bad_views_name_the_field(name, message, tmp_path, capsys):
    a = broken(name)
    with pytest.raises(ViewError, match=message.replace("(", r"\(").replace(")", r"\)")):
        views_from_arrays(a)
    path = tmp_path / "bad.npz"
    np.savez(path, **a)
    assert main(["reconstruct", str(path), "--out", str(tmp_path / "m.obj"), "--resolution0", "16"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_reconstruct_cli_takes_views_and_uses_their_evidence(tmp_path, capsys):
    mesh, views = rendered(3)
    path = tmp_path / "views.npz"
    write_views(path, views)
    out = tmp_path / "mesh.obj"
    assert main(["reconstruct", str(path), "--out", str(out), "--resolution0", "16"]) == 0
    assert "3 views fused" in capsys.readouterr().out
    result = trimesh.load(out, force="mesh")
    assert result.is_watertight
    assert np.linalg.norm(result.bounds.mean(0) - mesh.bounds.mean(0)) < 0.05


def test_one_view_gives_a_mesh_and_a_view_from_behind_is_dropped():
    _, views = rendered(2)
    loaded = load_checkpoint_default()
    reconstructor = Reconstructor(loaded, ExtractionSettings(16, 1, loaded.settings.threshold))
    points = views[0].points()
    one = reconstructor.reconstruct(points, views[:1])
    assert one.views_used == 1 and one.mesh.is_watertight
    # the second camera turned around: the object is behind it
    turned = views[1].world_from_camera.copy()
    turned[:3, :3] = turned[:3, :3] @ np.diag([-1.0, 1.0, -1.0])
    behind = type(views[1])(views[1].depth, views[1].mask, views[1].k, turned)
    result = reconstructor.reconstruct(points, [views[0], behind])
    assert result.views_dropped == 1 and result.views_used == 1


def load_checkpoint_default():
    from occnet_ros.model.checkpoint import default_checkpoint

    return load_checkpoint(default_checkpoint())


def test_each_point_is_traced_to_the_camera_that_saw_it_and_hidden_or_foreign_points_to_none():
    _, views = rendered(views=2)
    first, second = views[0].points(), views[1].points()
    directions = camera_directions(np.concatenate([first, second]), views)
    expected = views[0].world_from_camera[:3, 3] - first
    assert np.allclose(directions[:len(first)], expected / np.linalg.norm(expected, axis=1, keepdims=True))
    assert np.isfinite(directions).all()  # the second view's points are found in it
    camera = views[0].world_from_camera[:3, 3]
    behind = first[:50] + 0.01 * (first[:50] - camera) / np.linalg.norm(first[:50] - camera, axis=1, keepdims=True)
    away = first[:50] + np.array([0.0, 0.0, 5.0])  # over the mug: in no view's image
    assert np.isnan(camera_directions(np.concatenate([behind, away]), views[:1])).all()
