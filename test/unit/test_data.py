"""Rendering, records, examples and mesh loading."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from occnet_ros.geometry.camera import HL2_LONG_THROW, backproject, decode_depth, project, transform_points
from occnet_ros.geometry.raycast import look_at, raycasting_scene, render_depth
from occnet_ros.learn.dataset import ExampleSpec, make_example
from occnet_ros.learn.records import Record, RecordSpec, make_record, render_views
from occnet_ros.learn.sampling import occupancy_queries
from occnet_ros.learn.sources import load_mesh, mesh_dir_items


def test_rendered_depth_of_a_box_matches_geometry():
    box = trimesh.creation.box([1.0, 1.0, 1.0])
    pose = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3), up=np.array([0.0, 1.0, 0.0]))
    depth, ids = render_depth(raycasting_scene([box]), HL2_LONG_THROW, pose)
    hit = np.isfinite(depth)
    assert np.allclose(depth[hit], 2.5, atol=1e-5)
    # a 1 m face at 2.5 m with f = 200 px covers 80 x 80 pixels
    assert abs(hit.sum() - 80 * 80) < 200
    assert (ids[hit] == 0).all() and (ids[~hit] == -1).all()
    points, _ = backproject(depth, HL2_LONG_THROW)
    world = transform_points(pose, points)
    assert np.allclose(world[:, 2], 0.5, atol=1e-5) and np.abs(world[:, :2]).max() <= 0.5 + 1e-3


def test_backproject_then_project_is_identity():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 3.0, size=(HL2_LONG_THROW.height, HL2_LONG_THROW.width)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = np.nan
    points, index = backproject(depth, HL2_LONG_THROW)
    uv, inside = project(points, HL2_LONG_THROW)
    assert inside.all()
    assert np.array_equal(uv[:, 1] * HL2_LONG_THROW.width + uv[:, 0], index)


def test_decode_depth_units_and_invalid_values():
    raw = np.array([[0, 1000, 65535], [50, 2500, 4000]], dtype=np.uint16)
    depth = decode_depth(raw, "16UC1", min_range=0.1, max_range=3.0)
    assert depth[0, 1] == pytest.approx(1.0) and depth[1, 1] == pytest.approx(2.5)
    assert np.isnan(depth[0, 0]) and np.isnan(depth[0, 2]) and np.isnan(depth[1, 0]) and np.isnan(depth[1, 2])
    metres = decode_depth(np.array([[np.nan, 1.5, np.inf]], dtype=np.float32), "32FC1")
    assert np.isnan(metres[0, 0]) and metres[0, 1] == pytest.approx(1.5) and np.isnan(metres[0, 2])
    with pytest.raises(ValueError, match="unsupported depth encoding"):
        decode_depth(raw, "rgb8")


def test_occupancy_queries_fractions_and_labels():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    queries, occ = occupancy_queries(sphere, 10000, np.random.default_rng(0), near_fraction=0.7)
    assert len(queries) == 10000
    inside = np.linalg.norm(queries, axis=1) < 0.49
    outside = np.linalg.norm(queries, axis=1) > 0.51
    assert occ[inside].all() and not occ[outside].any()
    with pytest.raises(ValueError, match="watertight"):
        occupancy_queries(trimesh.Trimesh(sphere.vertices, sphere.faces[:-3]), 10, np.random.default_rng(0))


def test_record_round_trip_and_example(tmp_path):
    mesh = trimesh.creation.cylinder(radius=0.04, height=0.1, sections=24)
    mesh.apply_translation([0, 0, 0.05])
    spec = RecordSpec(views=4, queries=3000, surface_points=1000)
    record = make_record(mesh, np.random.default_rng(0), spec, name="can")
    assert len(record.views) == 4 and all(len(v) >= spec.min_points_per_view for v in record.views)
    # views see the real object: every point lies on the can's surface, up to sensor noise
    points = np.concatenate(record.views)
    radial = np.linalg.norm(points[:, :2], axis=1)
    on_surface = (np.abs(radial - 0.04) < 0.01) | (np.abs(points[:, 2] - 0.1) < 0.01)
    assert on_surface.mean() > 0.9
    record.save(tmp_path / "r.npz")
    loaded = Record.load(tmp_path / "r.npz")
    assert loaded.name == "can" and loaded.n_near == 2100
    assert np.array_equal(loaded.occupancies, record.occupancies)
    assert np.allclose(loaded.queries, record.queries, atol=2e-4)
    example = make_example(loaded, np.random.default_rng(1), ExampleSpec(input_points=300, query_points=500, max_views=4))
    assert example["inputs"].shape == (300, 3) and example["queries"].shape == (500, 3)
    assert np.abs(example["inputs"]).max() <= 0.5 + 1e-4  # observed points fill the unit box


def test_views_are_rendered_from_headset_height():
    mesh = trimesh.creation.box([0.5, 0.5, 0.8])
    mesh.apply_translation([0, 0, 0.4])
    views = render_views(mesh, np.random.default_rng(0), RecordSpec(views=3))
    heights = [v.pose[2, 3] for v in views]
    assert all(1.2 < h < 1.9 for h in heights)


def test_mesh_loading_skips_broken_meshes(tmp_path):
    good = trimesh.creation.box([0.2, 0.3, 0.4])
    good.apply_translation([5, 5, 5])
    good.export(tmp_path / "good.ply")
    broken = trimesh.Trimesh(good.vertices, good.faces[:-4])
    broken.export(tmp_path / "open.obj")
    (tmp_path / "garbage.stl").write_bytes(b"\x00garbage")
    loaded = load_mesh(tmp_path / "good.ply")
    assert loaded.is_watertight and loaded.bounds[0, 2] == pytest.approx(0) and np.allclose(loaded.bounds.mean(0)[:2], 0)
    with pytest.raises(ValueError):
        load_mesh(tmp_path / "garbage.stl")
    items = mesh_dir_items("train", tmp_path)
    assert sorted(i.name for i in items) == ["mesh-garbage", "mesh-good", "mesh-open"]


def test_example_transform_draws_a_yaw_alone_without_augmentation():
    from occnet_ros.geometry.frames import yaw_matrix
    from occnet_ros.learn.dataset import example_transform

    plain = example_transform(np.random.default_rng(3), ExampleSpec())
    assert np.allclose(plain, yaw_matrix(np.random.default_rng(3).uniform(0, 2 * np.pi)))


def test_example_transform_mirrors_half_and_scales_within_the_jitter():
    from occnet_ros.learn.dataset import example_transform

    spec = ExampleSpec(mirror=True, aspect_jitter=0.2)
    rng = np.random.default_rng(0)
    transforms = [example_transform(rng, spec) for _ in range(400)]
    mirrored = np.mean([np.linalg.det(t) < 0 for t in transforms])
    assert 0.4 < mirrored < 0.6
    scales = np.concatenate([np.linalg.svd(t, compute_uv=False) for t in transforms])
    assert scales.min() >= 1 / 1.2 - 1e-9 and scales.max() <= 1.2 + 1e-9
    assert scales.max() - scales.min() > 0.3  # proportions really change
    assert not ExampleSpec(mirror=True, aspect_jitter=0.2).for_validation().mirror
    with pytest.raises(ValueError, match="aspect_jitter"):
        ExampleSpec(aspect_jitter=1.5)
    with pytest.raises(ValueError, match="mirorr"):
        ExampleSpec.from_dict({"mirorr": True})


def test_augmented_examples_keep_inputs_and_labels_in_one_frame():
    """Inside-labelled queries of a box fill the box its observed surface spans, in the
    example's own (mirrored, stretched) frame: a map applied to one and not the other fails."""
    mesh = trimesh.creation.box([0.3, 0.12, 0.2])
    mesh.apply_translation([0.05, 0, 0.1])
    record = make_record(mesh, np.random.default_rng(0), RecordSpec(views=6, queries=6000, surface_points=1000), "box")
    spec = ExampleSpec(input_points=600, query_points=3000, min_views=6, max_views=6, mirror=True, aspect_jitter=0.4)
    for seed in range(6):
        example = make_example(record, np.random.default_rng(seed), spec)
        inside = example["queries"][example["occupancies"] > 0.5]
        low, high = example["inputs"].min(0), example["inputs"].max(0)
        assert np.all(inside.min(0) > low - 0.03) and np.all(inside.max(0) < high + 0.03)
        # the top face is seen: inside points reach it, under any stretch of z
        assert inside[:, 2].max() > high[2] - 0.05


def test_observed_weight_lowers_the_loss_weight_near_observed_points_only():
    """Queries within the radius of an observed point (any of the chosen views' points) weigh
    ``observed_weight``, the rest 1; with the weighting off an example has no weights and the same draws."""
    from scipy.spatial import cKDTree

    from occnet_ros.geometry.frames import CanonicalFrame

    mesh = trimesh.creation.box([0.3, 0.2, 0.25])
    mesh.apply_translation([0, 0, 0.125])
    record = make_record(mesh, np.random.default_rng(0), RecordSpec(views=3, queries=4000, surface_points=1000), "box")
    plain = ExampleSpec(input_points=400, query_points=2000, min_views=3, max_views=3, yaw_augment=False)
    weighted = ExampleSpec(input_points=400, query_points=2000, min_views=3, max_views=3, yaw_augment=False,
                           observed_weight=0.25, observed_radius=0.03)
    a = make_example(record, np.random.default_rng(5), plain)
    b = make_example(record, np.random.default_rng(5), weighted)
    assert "weights" not in a and np.array_equal(a["queries"], b["queries"])
    observed = np.concatenate(record.views)  # all three views, no yaw: the example's own frame
    frame = CanonicalFrame.from_points(observed, plain.fill, plain.align_yaw)
    near = cKDTree(frame.to_canonical(observed)).query(b["queries"])[0] < 0.03
    assert np.array_equal(b["weights"], np.where(near, 0.25, 1.0))
    assert 0.05 < near.mean() < 0.9
    assert weighted.for_validation().observed_weight == 1.0
    with pytest.raises(ValueError, match="observed_weight"):
        ExampleSpec(observed_weight=0.0)


def test_weighted_occupancy_loss_is_the_weighted_mean_of_the_cross_entropy():
    import torch

    from occnet_ros.learn.train import occupancy_loss

    logits = torch.tensor([[2.0, -1.0, 0.5]])
    target = torch.tensor([[1.0, 1.0, 0.0]])
    per_query = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    assert torch.isclose(occupancy_loss(logits, target), per_query.mean())
    weights = torch.tensor([[1.0, 0.0, 3.0]])
    assert torch.isclose(occupancy_loss(logits, target, weights), (per_query[0, 0] + 3 * per_query[0, 2]) / 4)
