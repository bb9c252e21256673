"""The sensor model (geometry/sensor.py): every effect measurable on a scene made for it, and off when 0."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy import ndimage

from occnet_ros.geometry.camera import HL2_LONG_THROW
from occnet_ros.geometry.raycast import look_at, raycasting_scene, render_hits
from occnet_ros.geometry.sensor import HOLOLENS2_LONG_THROW, PRESETS, SensorModel, concavity

QUIET = SensorModel(sigma_base_m=0.0, sigma_per_m=0.0, dropout=0.0, flying_pixel_prob=0.0)  # every effect off
EYE = np.array([0.0, 0.0, 1.0])


def wall(x: float = 2.0, yaw_deg: float = 0.0) -> trimesh.Trimesh:
    """A 4 m x 2 m wall whose face passes through (x, 0, 1), turned by yaw about z."""
    box = trimesh.creation.box([0.1, 4.0, 2.0]).apply_translation([0.05, 0.0, 0.0])
    box.apply_transform(trimesh.transformations.rotation_matrix(np.deg2rad(yaw_deg), [0, 0, 1]))
    return box.apply_translation([x, 0.0, 1.0])


def hits_of(meshes, eye=EYE, target=(2.0, 0.0, 1.0)):
    return render_hits(raycasting_scene(meshes), HL2_LONG_THROW, look_at(np.asarray(eye, float), np.asarray(target, float)))


def corner_hits():
    """The camera looks into a concave corner: a wall at x = 2 and a side wall whose face is y = 0.3."""
    side = trimesh.creation.box([1.2, 0.2, 2.0]).apply_translation([1.4, 0.4, 1.0])
    return hits_of([wall(), side], eye=(0.0, -0.3, 1.0), target=(2.0, 0.3, 1.0))


def legacy_apply(depth, rng, s=SensorModel()):
    """The v1 ToFNoise.apply, verbatim: the basic model must draw exactly this."""
    noisy = depth + rng.normal(size=depth.shape).astype(np.float32) * (s.sigma_base_m + s.sigma_per_m * np.nan_to_num(depth)).astype(np.float32)
    filled = np.where(np.isfinite(noisy), noisy, np.inf)
    right = np.roll(filled, -1, axis=1)
    with np.errstate(invalid="ignore"):
        jump = np.isfinite(filled) & np.isfinite(right) & (np.abs(right - filled) > s.edge_jump_m)
    pick = jump & (rng.random(depth.shape) < s.flying_pixel_prob)
    mix = rng.random(depth.shape).astype(np.float32)
    out = noisy.copy()
    out[pick] = filled[pick] * (1 - mix[pick]) + right[pick] * mix[pick]
    out[rng.random(depth.shape) < s.dropout] = np.nan
    return out


def test_the_basic_model_reproduces_the_v1_noise_exactly():
    box = trimesh.creation.box([0.4, 0.4, 0.4]).apply_translation([1.5, 0.0, 1.0])
    hits = hits_of([wall(), box])
    new = SensorModel().apply(hits.depth, np.random.default_rng(7), hits)
    old = legacy_apply(hits.depth, np.random.default_rng(7))
    assert np.array_equal(np.isnan(new), np.isnan(old)) and np.allclose(new, old, equal_nan=True, atol=0)


def test_everything_off_changes_nothing():
    hits = corner_hits()
    off = SensorModel.from_config({"preset": "hololens2_long_throw", **{k: 0.0 for k in (
        "sigma_base_m", "sigma_per_m", "dropout", "flying_pixel_prob", "grazing_dropout", "dark_fraction", "multipath_m",
        "pose_error_m", "pose_error_deg")}, "mask_error_px": 0})
    rng = np.random.default_rng(0)
    assert np.array_equal(off.apply(hits.depth, rng, hits, 3), hits.depth, equal_nan=True)
    pose = look_at(EYE, np.array([2.0, 0.0, 1.0]))
    assert np.array_equal(off.perturb_pose(pose, rng), pose)
    ids = np.zeros((40, 40), np.uint16)
    ids[10:30, 10:30] = 4
    assert np.array_equal(off.perturb_mask(ids, rng), ids)
    assert not off.needs_hits and not off.masks_objects


def test_depth_noise_grows_with_range():
    model = SensorModel(sigma_base_m=0.001, sigma_per_m=0.002, dropout=0.0, flying_pixel_prob=0.0)
    for distance in (1.0, 3.0):
        hits = hits_of([wall(distance)], target=(distance, 0.0, 1.0))
        error = (model.apply(hits.depth, np.random.default_rng(1)) - hits.depth)[100:190, 110:210]
        assert error.std() == pytest.approx(0.001 + 0.002 * distance, rel=0.1)


def test_flying_pixels_only_at_depth_edges_and_between_the_two_sides():
    box = trimesh.creation.box([0.2, 0.6, 0.6]).apply_translation([1.0, 0.0, 1.0])  # 1 m in front of the wall
    hits = hits_of([wall(), box])
    depth = hits.depth
    model = SensorModel(sigma_base_m=0.0, sigma_per_m=0.0, dropout=0.0, flying_pixel_prob=0.6, flying_pixel_edges="all")
    out = model.apply(depth, np.random.default_rng(2))
    changed = np.isfinite(depth) & (out != depth)
    # an edge pixel: some 4-neighbour is more than edge_jump_m away in depth
    step = np.zeros(depth.shape)
    for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
        neighbour = np.roll(depth, shift, axis=axis)
        step = np.maximum(step, np.abs(neighbour - depth))
    edge = ndimage.binary_dilation(step > 0.05) & np.isfinite(depth)
    assert changed.sum() > 50 and not (changed & ~edge).any()
    assert ((out[changed] > 0.99 * depth[changed].min()) & (out[changed] < 1.01 * depth[changed].max())).all()
    near_side, far_side = changed & (depth < 1.5), changed & (depth > 1.5)
    assert near_side.sum() > 10 and far_side.sum() > 10  # both sides of the silhouette mix
    assert np.array_equal(QUIET.apply(depth, np.random.default_rng(2)), depth, equal_nan=True)


def test_grazing_dropout_rises_with_the_incidence_angle():
    model = SensorModel(sigma_base_m=0.0, sigma_per_m=0.0, dropout=0.0, flying_pixel_prob=0.0, grazing_start_deg=60.0, grazing_dropout=0.9)
    rates = {}
    for angle in (0.0, 80.0):
        hits = hits_of([wall(2.0, angle)])
        centre = np.zeros(hits.depth.shape, bool)
        centre[124:164, 140:180] = True
        centre &= np.isfinite(hits.depth)
        incidence = np.degrees(np.arccos(hits.incidence_cos()[centre]))
        assert abs(np.median(incidence) - angle) < 5
        out = model.apply(hits.depth, np.random.default_rng(3), hits)
        rates[angle] = float(np.isnan(out[centre]).mean())
    assert rates[0.0] == 0.0
    assert 0.45 < rates[80.0] < 0.8  # 0.9 * (80 - 60) / 30 = 0.6, give or take the spread of angles


def test_dark_surfaces_drop_out_the_same_in_every_view():
    boxes = [trimesh.creation.box([0.1, 0.1, 0.1]).apply_translation([1.5, y, z]) for y in np.linspace(-0.6, 0.6, 6) for z in (0.7, 1.0, 1.3)]
    scene = raycasting_scene(boxes)
    model = SensorModel(sigma_base_m=0.0, sigma_per_m=0.0, dropout=0.0, flying_pixel_prob=0.0, dark_fraction=0.4, dark_dropout=1.0)
    seen = []
    for eye in (EYE, np.array([0.0, 0.3, 1.2])):
        hits = render_hits(scene, HL2_LONG_THROW, look_at(eye, np.array([1.5, 0.0, 1.0])))
        out = model.apply(hits.depth, np.random.default_rng(4), hits, surface_seed=11)
        visible = {int(g) for g in np.unique(hits.geometry[hits.geometry >= 0])}
        returned = {int(g) for g in np.unique(hits.geometry[np.isfinite(out)])}
        assert returned < visible  # some boxes are dark: no pixel of theirs returns
        seen.append(visible - returned)
    assert seen[0] == seen[1] and 2 <= len(seen[0]) <= 13
    other_seed = model.dark_surfaces(hits, 12)
    assert not np.array_equal(other_seed, model.dark_surfaces(hits, 11))
    patches = SensorModel(dark_fraction=0.5, dark_patch_m=0.02).dark_surfaces(hits, 11)
    per_box = [patches[hits.geometry == g].mean() for g in visible]
    assert any(0 < share < 1 for share in per_box)  # patches: part of a box is dark


def test_multipath_bias_is_positive_in_a_concave_corner_and_zero_on_a_flat_wall():
    model = SensorModel(sigma_base_m=0.0, sigma_per_m=0.0, dropout=0.0, flying_pixel_prob=0.0, multipath_m=0.004, multipath_radius_m=0.1)
    flat = hits_of([wall()])
    assert np.abs(model.apply(flat.depth, np.random.default_rng(5), flat) - flat.depth)[np.isfinite(flat.depth)].max() == 0
    corner = corner_hits()
    bias = model.apply(corner.depth, np.random.default_rng(5), corner) - corner.depth
    near = np.linalg.norm(corner.points[..., :2] - np.array([2.0, 0.3]), axis=-1)  # distance to the crease
    assert (bias[np.isfinite(bias)] >= 0).all() and np.nanmax(bias) <= 0.004 + 1e-6
    assert np.nanmax(bias[near < 0.02]) > 0.003  # at the crease: about the full bias
    assert np.nanmax(bias[near > 0.25]) == 0  # beyond the neighbourhood: none
    box = trimesh.creation.box([0.4, 0.4, 0.4]).apply_translation([1.5, 0.0, 1.0])
    convex = hits_of([box], eye=(0.5, -0.6, 1.6), target=(1.5, 0.0, 1.0))  # a box's outer edges and corner
    assert concavity(convex, 0.1).max() == 0


def test_mask_erodes_or_bleeds_within_the_band():
    ids = np.zeros((120, 160), np.uint16)
    ids[20:60, 20:60], ids[60:100, 90:140] = 3, 8
    model = SensorModel(mask_error_px=3)
    changes = []
    for seed in range(12):
        out = model.perturb_mask(ids, np.random.default_rng(seed))
        for value in (3, 8):
            before, after = ids == value, out == value
            ring = before ^ after
            assert ring.any()  # every instance moves its border
            outside = ndimage.distance_transform_cdt(~before, metric="taxicab")
            inside = ndimage.distance_transform_cdt(before, metric="taxicab")
            assert (np.where(before, inside, outside)[ring] <= 3).all()  # within the band of the original border
            changes.append(int(after.sum()) - int(before.sum()))
    perimeter = 4 * 40
    assert min(changes) <= -perimeter and max(changes) >= perimeter  # some erode, some bleed, by >= 1 px
    assert max(abs(c) for c in changes) <= 3 * 4 * 50 + 4 * 9  # never beyond 3 px all round


def test_pose_error_stays_within_its_bounds():
    model = SensorModel(pose_error_m=0.003, pose_error_deg=0.5)
    pose = look_at(EYE, np.array([2.0, 0.5, 0.8]))
    rng = np.random.default_rng(6)
    shifts, angles = [], []
    for _ in range(300):
        reported = model.perturb_pose(pose, rng)
        assert np.allclose(reported[:3, :3] @ reported[:3, :3].T, np.eye(3), atol=1e-9)
        shifts.append(np.linalg.norm(reported[:3, 3] - pose[:3, 3]))
        relative = pose[:3, :3].T @ reported[:3, :3]
        angles.append(np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1, 1))))
    assert max(shifts) <= 0.003 + 1e-9 and np.mean(shifts) > 0.001
    assert max(angles) <= 0.5 + 1e-6 and np.mean(angles) > 0.15


def test_config_values_are_checked_and_unknown_keys_named():
    assert SensorModel.from_config(None) is None and SensorModel.from_config("basic") == SensorModel()
    assert SensorModel.from_config({"preset": "hololens2_long_throw"}) == HOLOLENS2_LONG_THROW
    assert SensorModel.from_config({"multipath_m": 0.002}).multipath_m == 0.002
    with pytest.raises(ValueError, match="multipath_mm"):
        SensorModel.from_config({"multipath_mm": 0.002})
    with pytest.raises(ValueError, match="unknown sensor preset 'hololens3'"):
        SensorModel.from_config("hololens3")
    with pytest.raises(ValueError, match="grazing_dropout"):
        SensorModel(grazing_dropout=1.5)
    with pytest.raises(ValueError, match="flying_pixel_edges"):
        SensorModel(flying_pixel_edges="left")
    assert all(p.needs_hits for name, p in PRESETS.items() if name != "basic")
