"""HoloLens 2 simulator: depth geometry within the noise model, masks, transparency, room."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy import ndimage

from occnet_ros.geometry.camera import backproject, transform_points
from occnet_ros.geometry.raycast import look_at
from occnet_ros.geometry.sensor import HOLOLENS2_AHAT, HOLOLENS2_LONG_THROW, SensorModel
from occnet_ros.sim.hololens import HEADSET_TO_OPTICAL, HoloLensSimulator, Room, SimObject, SimSettings, make_room


def wall_scene():
    """A 2 m wide box face 2 m in front of the camera, a glass in front of it, and the floor."""
    wall = trimesh.creation.box([0.2, 2.0, 2.0]).apply_translation([2.1, 0.0, 1.0])
    glass = trimesh.creation.cylinder(radius=0.1, height=0.3).apply_translation([1.0, 0.5, 1.2])
    camera = look_at(np.array([0.0, 0.0, 1.0]), np.array([2.0, 0.0, 1.0]))
    room = Room([SimObject(1, "cabinet", wall), SimObject(2, "glass", glass, transparent=True)])
    return room, [camera @ np.linalg.inv(HEADSET_TO_OPTICAL)]


def test_depth_of_a_wall_matches_geometry_within_the_noise_model():
    room, poses = wall_scene()
    sim = HoloLensSimulator(SimSettings(mask_errors=False, sensor="basic"), room, poses)
    frame = sim.frame(0)
    assert np.allclose(frame.camera_pose, poses[0] @ HEADSET_TO_OPTICAL)
    depth = frame.depth_mm.astype(float) / 1000
    wall = np.zeros_like(frame.instance_ids, dtype=bool)
    wall[100:190, 110:210] = True  # the centre of the image sees the wall face at x = 2.0
    valid = wall & (depth > 0) & (frame.instance_ids == next(i for i, c, *_ in frame.instances if c == "cabinet"))
    points, _ = backproject(np.where(valid, depth, np.nan).astype(np.float32), sim.intrinsics)
    world = transform_points(frame.camera_pose, points)
    error = world[:, 0] - 2.0
    sigma = sim.noise.sigma_base_m + sim.noise.sigma_per_m * 2.0
    assert abs(error.mean()) < 0.002 and 0.5 * sigma < error.std() < 2.0 * sigma
    dropped = wall & (depth == 0)
    assert 0.005 < dropped.mean() / wall.mean() < 0.08  # ~3% dropouts


def test_transparent_objects_are_in_the_mask_but_not_in_the_depth():
    room, poses = wall_scene()
    sim = HoloLensSimulator(SimSettings(mask_errors=False), room, poses)
    frame = sim.frame(0)
    glass_id = next(i for i, c, s, transparent in frame.instances if transparent)
    glass = frame.instance_ids == glass_id
    assert glass.sum() > 100
    behind = frame.depth_mm[glass & (frame.depth_mm > 0)].astype(float) / 1000
    assert np.median(behind) > 1.9  # ToF sees through the glass to the wall


def test_instance_ids_change_between_frames_and_masks_have_errors():
    sim = HoloLensSimulator(SimSettings(seed=1, num_frames=6))
    ids = [sorted(i for i, *_ in sim.frame(k).instances) for k in range(4)]
    assert len({tuple(x) for x in ids}) > 1
    assert all(i.class_name != "glass" or i.transparent for i in sim.room.objects)
    exact = HoloLensSimulator(SimSettings(seed=1, num_frames=6, mask_errors=False, sensor="basic")).frame(0).instance_ids > 0
    noisy = HoloLensSimulator(SimSettings(seed=1, num_frames=6, mask_errors=True, sensor="basic")).frame(0).instance_ids > 0
    assert 0 < (exact != noisy).sum() < 0.5 * exact.sum()


def test_room_is_reproducible_and_objects_stand_on_supports():
    a, b = make_room(SimSettings(seed=4)), make_room(SimSettings(seed=4))
    assert [o.class_name for o in a.objects] == [o.class_name for o in b.objects]
    assert all(np.allclose(x.mesh.vertices, y.mesh.vertices) for x, y in zip(a.objects, b.objects))
    for obj in a.objects:
        bottom = obj.mesh.bounds[0, 2]
        assert np.isclose(bottom, 0.0, atol=1e-6) or np.isclose(bottom, 0.75, atol=1e-6)


def test_the_hololens2_sensor_puts_pose_error_in_the_published_pose():
    room, poses = wall_scene()
    assert HoloLensSimulator(SimSettings(mask_errors=False), room, poses).noise == SensorModel()  # the default: basic
    sim = HoloLensSimulator(SimSettings(mask_errors=False, sensor="hololens2"), room, poses)
    assert sim.noise == HOLOLENS2_LONG_THROW
    assert HoloLensSimulator(SimSettings(camera="hl2ss_ahat", mask_errors=False, sensor="hololens2"), room, poses).noise == HOLOLENS2_AHAT
    frame = sim.frame(0)
    true = poses[0] @ HEADSET_TO_OPTICAL
    assert np.allclose(frame.true_camera_pose, true)
    assert np.allclose(frame.camera_pose, frame.headset_pose @ HEADSET_TO_OPTICAL)
    shift = np.linalg.norm(frame.headset_pose[:3, 3] - poses[0][:3, 3])
    turn = np.degrees(np.arccos(np.clip((np.trace(poses[0][:3, :3].T @ frame.headset_pose[:3, :3]) - 1) / 2, -1, 1)))
    assert 0 < shift <= 0.003 + 1e-9 and 0 < turn <= 0.5 + 1e-6
    basic = HoloLensSimulator(SimSettings(mask_errors=False, sensor="basic"), room, poses).frame(0)
    assert np.allclose(basic.camera_pose, basic.true_camera_pose)


def test_hololens2_masks_bleed_or_erode_within_two_pixels():
    exact = HoloLensSimulator(SimSettings(seed=2, num_frames=6, mask_errors=False, sensor="hololens2")).frame(0)
    noisy = HoloLensSimulator(SimSettings(seed=2, num_frames=6, mask_errors=True, sensor="hololens2")).frame(0)
    moved = 0
    for mask_id, *_ in noisy.instances:  # the same ids: the masks are perturbed after they are drawn
        before, after = exact.instance_ids == mask_id, noisy.instance_ids == mask_id
        ring = before ^ after
        distance = np.where(before, ndimage.distance_transform_cdt(before, metric="taxicab"),
                            ndimage.distance_transform_cdt(~before, metric="taxicab"))
        assert (distance[ring] <= 2).all()
        moved += ring.any()
    assert moved >= 2
