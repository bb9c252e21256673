"""Data sources: ONet ShapeNet layout, meshes inside a wheel, user mesh folders via config."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import trimesh

from occnet_ros.learn.packaged import pybullet_items, wheel_meshes
from occnet_ros.learn.records import RecordSpec
from occnet_ros.learn.shapenet import shapenet_items
from occnet_ros.learn.splits import prepare_split

SPEC = RecordSpec(views=3, queries=2000, surface_points=1000)


def fake_onet_model(folder, rng, radius=0.4):
    """A y-up sphere in the ONet layout: uniform labelled points + surface samples."""
    folder.mkdir(parents=True)
    points = rng.uniform(-0.55, 0.55, size=(20000, 3)).astype(np.float16)
    occupancies = np.linalg.norm(points.astype(float), axis=1) < radius
    np.savez(folder / "points.npz", points=points, occupancies=np.packbits(occupancies), loc=np.zeros(3), scale=1.0)
    surface = rng.normal(size=(20000, 3))
    surface = radius * surface / np.linalg.norm(surface, axis=1, keepdims=True)
    np.savez(folder / "pointcloud.npz", points=surface.astype(np.float16), normals=surface.astype(np.float16))


def test_onet_shapenet_layout(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "ShapeNet"
    for model in ("a1", "b2", "c3"):
        fake_onet_model(root / "03001627" / model, rng)
    (root / "03001627" / "train.lst").write_text("a1\nb2\n")
    (root / "03001627" / "val.lst").write_text("c3\n")
    (root / "03001627" / "broken").mkdir()
    items = shapenet_items("train", root)
    assert [i.name for i in items] == ["shapenet-03001627-a1", "shapenet-03001627-b2"]
    record = items[0].make(np.random.default_rng(1), SPEC)
    # scaled to 0.5 m, standing on the floor; views see only part of the sphere
    assert record.surface[:, 2].min() == pytest.approx(0.0, abs=0.01) and np.ptp(record.surface[:, 2]) == pytest.approx(0.5, abs=0.02)
    centre = np.array([0.0, 0.0, 0.25])
    for view in record.views:
        radial = np.linalg.norm(view - centre, axis=1)
        assert np.abs(radial - 0.25).max() < 0.02 and len(view) < 0.7 * 20000
    inside = np.linalg.norm(record.queries - centre, axis=1) < 0.24
    assert record.occupancies[inside].all() and not record.occupancies[np.linalg.norm(record.queries - centre, axis=1) > 0.26].any()
    with pytest.raises(ValueError, match="not an ONet ShapeNet model"):
        from occnet_ros.learn.shapenet import read_model

        read_model(root / "03001627" / "broken")


def fake_wheel(path):
    with zipfile.ZipFile(path, "w") as archive:
        for index, mesh in ((5, trimesh.creation.box([1, 2, 3])), (905, trimesh.creation.icosphere(2))):
            archive.writestr(f"pybullet_data/random_urdfs/{index:03d}/{index:03d}.obj", trimesh.exchange.obj.export_obj(mesh))
            archive.writestr(f"pybullet_data/random_urdfs/{index:03d}/{index:03d}.urdf", "<robot/>")
    return path


def test_meshes_from_a_wheel(tmp_path):
    wheel = fake_wheel(tmp_path / "pybullet-0-py3-none-any.whl")
    assert sorted(wheel_meshes(wheel)) == [5, 905]
    train, val = pybullet_items("train", wheel), pybullet_items("val", wheel)
    assert [i.name for i in train] == ["pybullet-005"] and [i.name for i in val] == ["pybullet-905"]
    record = train[0].make(np.random.default_rng(0), SPEC)
    assert 0.08 <= np.ptp(record.surface, axis=0).max() <= 0.5 and record.occupancies.any()


def test_prepare_split_from_config_skips_bad_user_meshes(tmp_path):
    meshes = tmp_path / "mine"
    meshes.mkdir()
    trimesh.creation.cylinder(radius=0.05, height=0.12).export(meshes / "cup.stl")
    (meshes / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n")
    config = {"cache_dir": str(tmp_path / "cache"), "record": {"views": 2, "queries": 1000, "surface_points": 500},
              "sources": [{"type": "mesh_dir", "path": str(meshes)}]}
    paths = prepare_split(config, "train", progress=False)
    assert [p.name for p in paths] == ["mesh-cup.npz"]
    with pytest.raises(ValueError, match="unknown data source"):
        prepare_split({"sources": [{"type": "nope"}], "cache_dir": str(tmp_path / "c2")}, "train", progress=False)


def test_foreign_eval_objects_are_the_held_out_test_indices_and_count_limits_training(tmp_path):
    from occnet_ros.evaluate.run import foreign_objects

    wheel = tmp_path / "pybullet-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for index in (5, 6, 955):
            archive.writestr(f"pybullet_data/random_urdfs/{index:03d}/{index:03d}.obj",
                             trimesh.exchange.obj.export_obj(trimesh.creation.icosphere(1)))
    objects = list(foreign_objects("test", wheel))
    assert [o.name for o in objects] == ["pybullet-955"]  # only 950-999, never a training index
    assert 0.08 <= np.ptp(objects[0].mesh.bounds, axis=0).max() <= 0.5
    assert [i.name for i in pybullet_items("train", wheel, count=1)] == ["pybullet-005"]
