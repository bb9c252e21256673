"""Observation core: instance splitting, association across frames, view selection, sync, TF."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scenes import poses_around, render_frame, two_object_scene

from occnet_ros.geometry.camera import HL2_LONG_THROW, Intrinsics
from occnet_ros.geometry.raycast import look_at, raycasting_scene, render_depth
from occnet_ros.observe.frame import FrameSettings, InstanceInfo, InstanceView, split_instances, voxel_downsample
from occnet_ros.observe.objects import ObjectStore, StoreSettings, most_redundant
from occnet_ros.observe.sync import ApproximateTimeMatcher
from occnet_ros.observe.tf_buffer import TransformBuffer, TransformUnavailable

NO_CLEANING = FrameSettings(voxel_size_m=0.0, outlier_neighbors=0, min_instance_points=20, max_points_per_view=100000)


def test_split_instances_places_points_in_the_world():
    meshes = two_object_scene()
    pose = poses_around(1)[0]
    depth, mask = render_frame(meshes, pose)
    infos = [InstanceInfo(1, "box"), InstanceInfo(2, "can")]
    result = split_instances(depth, HL2_LONG_THROW, mask, infos, pose, 0.0, NO_CLEANING)
    assert [v.class_name for v in result.views] == ["box", "can"]
    for view, mesh in zip(result.views, meshes):
        distance = np.abs(trimesh.proximity.signed_distance(mesh, view.points))
        assert distance.max() < 0.002  # noise-free depth: on the surface, well under 1 cm
        assert np.allclose(view.camera_position, pose[:3, 3])
    assert dict(result.skipped) == {}  # nothing skipped: no reason listed with a count of 0


def test_transparent_low_score_and_tiny_instances_are_skipped_and_counted():
    meshes = two_object_scene()
    pose = poses_around(1)[0]
    depth, mask = render_frame(meshes, pose)
    infos = [InstanceInfo(1, "box", transparent=True), InstanceInfo(2, "glass")]
    result = split_instances(depth, HL2_LONG_THROW, mask, infos, pose, 0.0, NO_CLEANING)
    assert result.views == [] and result.skipped["transparent"] == 2
    result = split_instances(depth, HL2_LONG_THROW, mask, [InstanceInfo(1, "box", score=0.1), InstanceInfo(9, "ghost")], pose, 0.0, NO_CLEANING)
    assert result.skipped["low_score"] == 1 and result.skipped["missing_from_mask"] == 1 and result.skipped["unlisted_instance"] == 1


def test_mismatched_mask_size_is_an_error():
    depth = np.ones((HL2_LONG_THROW.height, HL2_LONG_THROW.width), dtype=np.float32)
    with pytest.raises(ValueError, match="sizes differ"):
        split_instances(depth, HL2_LONG_THROW, np.zeros((10, 10), np.uint16), [], np.eye(4), 0.0, NO_CLEANING)


def test_mask_from_another_camera_is_projected():
    meshes = two_object_scene()
    pose = poses_around(1)[0]
    depth, mask = render_frame(meshes, pose)
    # the "PV camera": same centre, twice the resolution
    pv = Intrinsics(640, 576, 400.0, 400.0, 320.0, 288.0)
    pv_depth, pv_geometry = render_depth(raycasting_scene(meshes), pv, pose)
    pv_mask = np.where(pv_geometry == 0, 1, np.where(pv_geometry == 1, 2, 0)).astype(np.uint16)
    aligned = split_instances(depth, HL2_LONG_THROW, mask, [InstanceInfo(1, "box")], pose, 0.0, NO_CLEANING)
    projected = split_instances(depth, HL2_LONG_THROW, pv_mask, [InstanceInfo(1, "box")], pose, 0.0, NO_CLEANING,
                                mask_camera=(pv, np.eye(4)))
    assert abs(len(projected.views[0].points) - len(aligned.views[0].points)) < 0.05 * len(aligned.views[0].points)


def test_twelve_poses_two_objects_with_swapped_ids():
    meshes = two_object_scene()
    store = ObjectStore(StoreSettings(max_views_per_object=10))
    for index, pose in enumerate(poses_around(12)):
        ids = (1, 2) if index % 2 == 0 else (7, 3)  # the segmenter's ids change between frames
        depth, mask = render_frame(meshes, pose, ids)
        infos = [InstanceInfo(ids[0], "box"), InstanceInfo(ids[1], "box" if index == 5 else "can")]
        infos[1] = InstanceInfo(ids[1], "can")
        views = split_instances(depth, HL2_LONG_THROW, mask, infos, pose, float(index), FrameSettings()).views
        store.add_frame(views)
    assert len(store.objects) == 2
    by_class = {o.class_name: o for o in store.objects.values()}
    assert all(len(o.views) <= 10 for o in store.objects.values())
    assert np.linalg.norm(by_class["box"].points.mean(0)[:2] - [0.5, 0.0]) < 0.05
    assert np.linalg.norm(by_class["can"].points.mean(0)[:2] - [-0.5, 0.2]) < 0.05


def test_two_nearby_same_class_objects_stay_apart():
    a = InstanceView("mug", np.random.default_rng(0).normal(scale=0.03, size=(200, 3)), np.array([1.0, 0, 1]), 1.0, 0.0, 1)
    b = InstanceView("mug", a.points + [0.3, 0, 0], np.array([1.0, 0, 1]), 1.0, 0.0, 2)
    store = ObjectStore()
    store.add_frame([a, b])
    store.add_frame([b, a])  # next frame, swapped order
    assert len(store.objects) == 2 and all(len(o.views) == 2 for o in store.objects.values())


def test_view_selection_keeps_diverse_viewpoints():
    points = np.random.default_rng(0).normal(scale=0.05, size=(100, 3))
    views = [InstanceView("x", points, np.array([np.cos(a), np.sin(a), 0.0]), 1.0, float(i), 1)
             for i, a in enumerate([0.0, 0.02, 2.0, 4.0])]
    assert most_redundant(views, np.zeros(3)) == 0  # 0 and 1 look alike; the older one goes
    store = ObjectStore(StoreSettings(max_views_per_object=3))
    for view in views:
        store.add_frame([view])
    kept = sorted(v.stamp for v in next(iter(store.objects.values())).views)
    assert kept == [1.0, 2.0, 3.0]


def test_retire_forget_reset():
    store = ObjectStore(StoreSettings(retire_after_s=10.0))
    view = InstanceView("box", np.random.default_rng(0).random((50, 3)), np.ones(3), 1.0, 0.0, 1)
    store.add_frame([view])
    assert store.retire(now=5.0) == [] and store.retire(now=11.0) == [1]
    store.add_frame([view])
    assert store.forget(2) and not store.forget(2)
    store.add_frame([view])
    assert store.reset() == [3] and not store.objects


def test_voxel_downsample_keeps_one_point_per_voxel():
    points = np.array([[0.001, 0.001, 0.001], [0.002, 0.002, 0.002], [0.5, 0.5, 0.5]])
    out = voxel_downsample(points, 0.01)
    assert len(out) == 2 and np.allclose(sorted(out[:, 0]), [0.0015, 0.5])


def test_approximate_time_matcher():
    matcher = ApproximateTimeMatcher(3, slop=0.01, queue_size=5)
    assert matcher.add(0, 1.000, "d1") is None
    assert matcher.add(1, 1.004, "i1") is None
    assert matcher.add(2, 1.008, "s1") == ["d1", "i1", "s1"]
    assert matcher.add(0, 2.0, "d2") is None and matcher.add(1, 2.5, "i-late") is None
    assert matcher.add(2, 2.001, "s2") is None  # no camera info near 2.0
    assert matcher.add(0, 1.5, "old") is None and matcher.dropped["out_of_order"] == 1


def test_approximate_time_matcher_prefers_the_depths_own_partners():
    """Streams depth, camera info, segmentation at 100 Hz, 20 ms slop. A set is built around a depth
    frame: its own stamp's partner whenever one is queued, not the neighbour nearest to whichever
    message arrived last."""
    matcher = ApproximateTimeMatcher(3, slop=0.02)
    matcher.add(0, 1.00, "d100")
    matcher.add(2, 1.00, "s100")
    assert matcher.add(2, 1.01, "s101") is None  # the camera info of 1.00 is lost
    assert matcher.add(1, 1.01, "i101") == ["d100", "i101", "s100"]  # not the mask of 1.01
    # the depth of 1.04 is lost: the info and mask of 1.04 complete the depth of 1.03 with its own info
    matcher = ApproximateTimeMatcher(3, slop=0.02)
    for stream, stamp, name in ((0, 1.03, "d103"), (1, 1.03, "i103"), (0, 1.05, "d105"), (1, 1.04, "i104")):
        assert matcher.add(stream, stamp, name) is None
    assert matcher.add(2, 1.04, "s104") == ["d103", "i103", "s104"]  # no mask of 1.03: the nearest
    assert matcher.add(1, 1.05, "i105") is None
    assert matcher.add(2, 1.05, "s105") == ["d105", "i105", "s105"]
    assert matcher.dropped["unmatched"] == 1  # i104


def test_approximate_time_matcher_does_not_wait_for_partners_on_their_own_clock():
    matcher = ApproximateTimeMatcher(3, slop=0.02)
    matcher.add(0, 2.000, "d")
    matcher.add(1, 2.000, "i")
    assert matcher.add(2, 2.004, "s") == ["d", "i", "s"]  # 4 ms apart: matched at once
    matcher.add(2, 2.013, "s2")
    matcher.add(2, 2.021, "s3")
    matcher.add(1, 2.020, "i2")
    assert matcher.add(0, 2.020, "d2") == ["d2", "i2", "s3"]  # the nearest mask, 1 ms off


def test_transform_buffer_chains_and_interpolates():
    buffer = TransformBuffer()
    a, b = np.eye(4), np.eye(4)
    b[:3, 3] = [2.0, 0, 0]
    buffer.set_transform("map", "headset", 0.0, a)
    buffer.set_transform("map", "headset", 1.0, b)
    optical = np.eye(4)
    optical[:3, 3] = [0, 0, 0.1]
    buffer.set_transform("headset", "camera", 0.0, optical, static=True)
    pose = buffer.lookup("map", "camera", 0.5)
    assert np.allclose(pose[:3, 3], [1.0, 0.0, 0.1])
    assert np.allclose(buffer.lookup("camera", "map", 0.5), np.linalg.inv(pose))
    with pytest.raises(TransformUnavailable):
        buffer.lookup("map", "camera", 2.0)  # TF has not caught up yet
    with pytest.raises(TransformUnavailable):
        buffer.lookup("map", "elsewhere", 0.5)


def test_mask_spill_onto_the_background_is_dropped():
    """A dilated mask puts wall pixels into the can's instance; only the can's points survive."""
    from scipy import ndimage

    can = trimesh.creation.cylinder(radius=0.05, height=0.12, sections=32).apply_translation([0, 0, 0.8])
    wall = trimesh.creation.box([0.05, 3.0, 3.0]).apply_translation([-1.0, 0, 1.0])
    pose = look_at(np.array([1.2, 0.0, 1.1]), np.array([0.0, 0.0, 0.8]))
    depth, geometry = render_depth(raycasting_scene([can, wall]), HL2_LONG_THROW, pose)
    mask = ndimage.binary_dilation(geometry == 0, iterations=2).astype(np.uint16)
    settings = FrameSettings(voxel_size_m=0.0, outlier_neighbors=0, min_instance_points=20)
    views = split_instances(depth, HL2_LONG_THROW, mask, [InstanceInfo(1, "can")], pose, 0.0, settings).views
    radial = np.linalg.norm(views[0].points[:, :2], axis=1)
    assert radial.max() < 0.06
    spilled = split_instances(depth, HL2_LONG_THROW, mask, [InstanceInfo(1, "can")], pose, 0.0,
                              FrameSettings(voxel_size_m=0.0, outlier_neighbors=0, min_instance_points=20, cluster_radius_m=0.0)).views
    assert np.linalg.norm(spilled[0].points[:, :2], axis=1).max() > 0.5  # without the filter the wall gets in


def test_largest_cluster_joins_small_gaps_and_cuts_depth_jumps():
    from occnet_ros.observe.frame import largest_cluster

    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(30), np.arange(30), indexing="ij"), -1).reshape(-1, 2) * 0.005
    front = np.column_stack([grid, 1.0 + rng.normal(0, 0.001, len(grid))])  # 15 cm patch at 1 m
    behind = front[:400] + [0.0, 0.0, 0.25]  # background spill across a 25 cm depth jump
    kept = largest_cluster(np.concatenate([behind, front]), 0.03)
    assert len(kept) == len(front) and np.all(kept[:, 2] < 1.01)
    chain = np.column_stack([np.arange(40) * 0.025, np.zeros(40), np.ones(40)])  # 2.5 cm gaps < radius
    assert len(largest_cluster(np.concatenate([chain, chain[:5] + [0, 0, 0.3]]), 0.03)) == 40
    for shift in ([-5.0, 3.0, 2.0], [1e3, 1e3, 1e3]):  # negative and far coordinates pack without collisions
        assert len(largest_cluster(np.concatenate([behind, front]) + shift, 0.03)) == len(front)


def test_stamped_buffer_and_transform_buffer_read_while_another_thread_writes():
    """The pose/TF subscriptions add on the input thread while frames are placed on the processing
    thread: a lookup never sees a deque in the middle of a change."""
    import threading

    from occnet_ros.observe.sync import StampedBuffer
    from occnet_ros.observe.tf_buffer import TransformBuffer

    poses, tf = StampedBuffer(50), TransformBuffer(cache_s=0.05)
    stop, errors = threading.Event(), []

    def write():
        stamp = 0.0
        while not stop.is_set():
            stamp += 0.001
            poses.add(stamp, stamp)
            tf.set_transform("map", "cam", stamp, np.eye(4))
            tf.set_transform("map", "cam", stamp - 0.0005, np.eye(4))  # out of order: the series is rebuilt

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for i in range(20000):
            try:
                poses.settled_nearest(i * 1e-4, 0.01)
                tf.lookup("map", "cam", i * 1e-4)
            except LookupError:
                pass
            except RuntimeError as error:  # "deque mutated during iteration"
                errors.append(error)
                break
    finally:
        stop.set()
        writer.join()
    assert not errors, errors
