"""Depth crops of one instance (observe/crop.py): mask and margin kept, K consistent, size capped."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import poses_around, render_frame, two_object_scene

from occnet_ros.geometry.camera import HL2_LONG_THROW, Intrinsics
from occnet_ros.geometry.raycast import look_at
from occnet_ros.geometry.views import DepthView, ViewError
from occnet_ros.observe.crop import crop_view, crop_window
from occnet_ros.observe.frame import FrameSettings, InstanceInfo, split_instances

K = HL2_LONG_THROW.k
POSE = look_at(np.array([1.5, -0.4, 1.1]), np.array([0.0, 0.0, 0.2]))


def ramp_depth(shape=(288, 320)) -> np.ndarray:
    """A tilted plane's depth (every pixel distinct), metres."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return (1.5 + 0.002 * cols + 0.001 * rows).astype(np.float32)


def box_mask(top, left, height, width, shape=(288, 320)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[top:top + height, left:left + width] = True
    return mask


def test_crop_keeps_the_mask_and_a_margin_around_it():
    depth, mask = ramp_depth(), box_mask(100, 120, 40, 60)
    view = crop_view(depth, mask, K, POSE)
    assert view.mask.sum() == mask.sum()  # stride 1: every mask pixel kept
    window = crop_window(mask, 0.25, 8, 160)
    assert window.stride == 1
    pad = 15  # 25% of the bounding box's longer side (60 px)
    assert (window.top, window.left) == (100 - pad, 120 - pad)
    assert view.depth.shape == (40 + 2 * pad, 60 + 2 * pad)
    rows, cols = np.nonzero(view.mask)
    assert rows.min() == pad and cols.min() == pad and view.mask.shape[0] - 1 - rows.max() == pad
    # the margin holds the depth beside the object, not only the mask's
    assert (view.depth[~view.mask] > 0).all()
    np.testing.assert_array_equal(view.depth, depth[85:155, 105:195])


def test_small_masks_get_at_least_eight_pixels_and_crops_stop_at_the_border():
    depth = ramp_depth()
    window = crop_window(box_mask(50, 50, 6, 6), 0.25, 8, 160)
    assert (window.top, window.left, window.height, window.width) == (42, 42, 22, 22)
    corner = crop_view(depth, box_mask(0, 310, 10, 10), K, POSE)
    assert corner.depth.shape == (18, 18) and corner.mask[:10, 8:].all()


def test_crop_k_back_projects_the_same_world_points_as_the_full_image():
    depth, mask = ramp_depth(), box_mask(60, 90, 70, 50)
    full = DepthView(depth, mask, K, POSE).points()
    crop = crop_view(depth, mask, K, POSE)
    assert crop.k[0, 0] == K[0, 0] and crop.k[0, 2] != K[0, 2]
    np.testing.assert_allclose(np.sort(crop.points(), axis=0), np.sort(full, axis=0), atol=1e-9)


def test_large_crops_are_strided_and_k_follows():
    depth, mask = ramp_depth(), box_mask(21, 31, 239, 249)  # odd edges: the border blocks are part object
    window = crop_window(mask, 0.25, 8, 160)
    assert window.stride == 2  # the window spans the whole 288 x 320 image
    view = crop_view(depth, mask, K, POSE)
    assert max(view.depth.shape) <= 160
    np.testing.assert_allclose(view.k[[0, 1], [0, 1]], K[[0, 1], [0, 1]] / 2)
    # a crop pixel whose block's top-left pixel is on the object back-projects to that pixel
    sampled = window.take(mask)
    exact = DepthView(view.depth, view.mask & sampled, view.k, POSE).points()
    full = {tuple(np.round(p, 9)) for p in DepthView(depth, mask, K, POSE).points()}
    assert len(exact) == pytest.approx(mask.sum() / 4, rel=0.02)
    assert all(tuple(np.round(p, 9)) in full for p in exact)
    np.testing.assert_array_equal(view.depth[sampled], window.take(depth)[sampled])
    assert window.take(depth)[1, 1] == depth[window.top + 2, window.left + 2]
    # the others (the mask's border blocks) keep an object pixel's depth, within one block of it
    assert view.mask.sum() >= sampled.sum() and (view.depth[view.mask] > 0).all()
    border = DepthView(view.depth, view.mask & ~sampled, view.k, POSE).points()
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(DepthView(depth, mask, K, POSE).points()).query(border)
    assert len(border) > 100 and distance.max() < 1.5 * 2.8 / K[0, 0]  # one full-image pixel at <= 2.8 m


def test_thin_parts_survive_the_stride():
    """A one-pixel chair leg in a large crop stays on the mask with the leg's depth."""
    depth = np.full((288, 320), 3.0, np.float32)
    mask = box_mask(20, 30, 30, 250)
    mask[50:280, 101] = True
    depth[mask] = 1.5
    view = crop_view(depth, mask, K, POSE)
    window = crop_window(mask, 0.25, 8, 160)
    column = (101 - window.left) // 2
    assert window.stride == 2 and not window.take(mask)[26:140, column].any()  # plain sampling loses it
    assert view.mask[26:140, column].all()
    np.testing.assert_array_equal(view.depth[view.mask], 1.5)


@pytest.mark.parametrize("cap", [16, 50, 100, 160])
def test_crop_side_never_exceeds_the_cap(cap):
    rng = np.random.default_rng(cap)
    depth = ramp_depth((512, 512))
    k = Intrinsics(512, 512, 300.0, 300.0, 256.0, 256.0).k
    for _ in range(40):
        top, left = rng.integers(0, 500, 2)
        height, width = rng.integers(1, 512, 2)
        mask = box_mask(top, left, height, width, (512, 512))
        view = crop_view(depth, mask, k, POSE, max_side=cap)
        assert max(view.depth.shape) <= cap and view.mask.any()
        assert view.mask.sum() >= mask.sum() / crop_window(mask, 0.25, 8, cap).stride ** 2


def test_nan_depth_becomes_no_return_and_bad_inputs_raise():
    depth = ramp_depth()
    depth[100:110, 100:110] = np.nan
    view = crop_view(depth, box_mask(95, 95, 20, 20), K, POSE)
    assert view.depth.dtype == np.float32 and (view.depth == 0).sum() == 100
    with pytest.raises(ViewError, match="mask is empty"):
        crop_view(depth, np.zeros(depth.shape, bool), K, POSE)
    with pytest.raises(ViewError, match="size"):
        crop_view(depth, np.ones((10, 10), bool), K, POSE)
    with pytest.raises(ViewError, match="K"):
        crop_view(depth, box_mask(5, 5, 5, 5), np.zeros((3, 3)), POSE)


def test_split_instances_keeps_a_view_per_instance_whose_points_are_the_cloud():
    meshes = two_object_scene()
    pose = poses_around(6)[1]
    depth, mask = render_frame(meshes, pose)
    infos = [InstanceInfo(1, "box"), InstanceInfo(2, "can")]
    settings = FrameSettings(outlier_neighbors=0)
    result = split_instances(depth, HL2_LONG_THROW, mask, infos, pose, 0.0, settings)
    for view in result.views:
        crop = view.view
        assert crop is not None and max(crop.depth.shape) <= 160
        np.testing.assert_allclose(crop.world_from_camera, pose)
        points = crop.points()
        from scipy.spatial import cKDTree

        distance, _ = cKDTree(view.points).query(points)
        assert np.percentile(distance, 99) < 2 * settings.voxel_size_m
    off = split_instances(depth, HL2_LONG_THROW, mask, infos, pose, 0.0,
                          FrameSettings(crop=type(settings.crop)(max_side=0)))
    assert all(v.view is None for v in off.views)


def test_mask_from_another_camera_is_used_as_resampled_into_the_depth_camera():
    from occnet_ros.geometry.raycast import raycasting_scene, render_depth

    meshes = two_object_scene()
    pose = poses_around(1)[0]
    depth, mask = render_frame(meshes, pose)
    pv = Intrinsics(640, 576, 400.0, 400.0, 320.0, 288.0)  # the "PV camera": same centre, twice the resolution
    _, pv_geometry = render_depth(raycasting_scene(meshes), pv, pose)
    pv_mask = np.where(pv_geometry == 0, 1, np.where(pv_geometry == 1, 2, 0)).astype(np.uint16)
    settings = FrameSettings(outlier_neighbors=0, mask_erosion_px=0, cluster_radius_m=0.0)
    rows, cols = np.nonzero(mask == 1)
    hole = (slice(rows.mean().astype(int) - 2, rows.mean().astype(int) + 3), slice(cols.mean().astype(int) - 2, cols.mean().astype(int) + 3))
    depth[hole] = np.nan  # no return in the middle of the box
    aligned = split_instances(depth, HL2_LONG_THROW, mask, [InstanceInfo(1, "box")], pose, 0.0, settings).views[0].view
    projected = split_instances(depth, HL2_LONG_THROW, pv_mask, [InstanceInfo(1, "box")], pose, 0.0, settings,
                                mask_camera=(pv, np.eye(4))).views[0].view
    assert projected.depth.shape == aligned.depth.shape
    np.testing.assert_allclose(projected.k, aligned.k)
    agree = (projected.mask == aligned.mask).mean()
    assert agree > 0.98, agree
    # the pixels without a return inside the object stay on its mask (else they would carve it empty)
    window = crop_window(mask == 1, 0.25, 8, 160)
    assert projected.mask[hole[0].start - window.top + 2, hole[1].start - window.left + 2]
