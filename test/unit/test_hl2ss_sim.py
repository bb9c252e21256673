"""The simulator's hl2ss cameras (radial uint16, distorted ray table, y-up world) through the ray-table
path give the same quality as the pinhole path on one object."""

from __future__ import annotations

import numpy as np
import pytest

from occnet_ros.geometry.camera import decode_depth
from occnet_ros.geometry.hl2ss_frames import MAP_FROM_HL2_WORLD
from occnet_ros.observe.frame import FrameSettings, InstanceInfo, split_instances
from occnet_ros.sim.hololens import HoloLensSimulator, SimSettings

FRAMES = 8


def object_clouds(camera: str) -> tuple[dict[str, np.ndarray], HoloLensSimulator]:
    sim = HoloLensSimulator(SimSettings(seed=3, num_objects=4, num_frames=FRAMES, camera=camera, mask_errors=False))
    clouds: dict[str, list[np.ndarray]] = {}
    for index in range(FRAMES):
        frame = sim.frame(index)
        if sim.ray_camera is None:
            model, depth = sim.intrinsics, decode_depth(frame.depth_mm, "16UC1", None, 0.1, 5.0)
        else:
            depth, _ = sim.ray_camera.decode(frame.depth_mm, "16UC1", None, 0.1, 5.0)
            model = sim.ray_camera
            # the device reports its pose in the y-up HoloLens world; map <- that world is the fixed rotation
            assert np.allclose(MAP_FROM_HL2_WORLD @ frame.headset_pose_yup, frame.headset_pose)
            yup, zup = frame.headset_pose_yup, frame.headset_pose
            assert np.isclose(yup[1, 3], zup[2, 3]) and np.isclose(yup[1, 2], zup[2, 2])  # height and tilt: y up there
        instances = [InstanceInfo(i, c, s, t) for i, c, s, t in frame.instances]
        result = split_instances(depth, model, frame.instance_ids, instances, frame.camera_pose, frame.stamp, FrameSettings())
        for view in result.views:
            clouds.setdefault(view.class_name, []).append(view.points)
    return {k: np.concatenate(v) for k, v in clouds.items()}, sim


def accuracy_and_coverage(points: np.ndarray, mesh) -> tuple[float, float]:
    """Median point-to-surface distance (m) and the fraction of the surface within 1 cm of a point."""
    import open3d as o3d
    from scipy.spatial import cKDTree

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)), o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    distance = scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()
    surface = mesh.sample(4000, seed=0) if "seed" in mesh.sample.__code__.co_varnames else mesh.sample(4000)
    near, _ = cKDTree(points).query(surface, k=1)
    return float(np.median(distance)), float((near < 0.01).mean())


@pytest.fixture(scope="module")
def both_paths():
    return object_clouds("long_throw"), object_clouds("hl2ss_long_throw")


def test_the_simulator_produces_what_hl2ss_produces(both_paths):
    _, (_, sim) = both_paths
    frame = sim.frame(0)
    assert frame.radial and frame.depth_mm.dtype == np.uint16 and frame.depth_mm.shape == (288, 320)
    xy = sim.ray_camera.xy
    pinhole_corner = (0 - 160) / 200.0
    assert xy[0, 0, 0] < pinhole_corner * 1.05  # barrel distortion: the corner ray is further out than a pinhole's
    z = sim.ray_camera.z_depth(sim.ray_camera.decode(frame.depth_mm, "16UC1")[0])
    assert np.nanmean(frame.depth_mm * 0.001 / z) > 1.05  # radial, not z-depth


def test_ray_table_quality_equals_the_pinhole_path_on_one_object(both_paths):
    (pin_clouds, pin_sim), (ray_clouds, _) = both_paths
    names = [o.class_name for o in pin_sim.room.objects if not o.transparent]
    room = {o.class_name: o for o in pin_sim.room.objects if names.count(o.class_name) == 1}  # classes seen once: one object
    common = [c for c in pin_clouds if c in ray_clouds and c in room]
    assert common
    name = max(common, key=lambda c: len(pin_clouds[c]))  # the best-seen object
    pin_acc, pin_cov = accuracy_and_coverage(pin_clouds[name], room[name].mesh)
    ray_acc, ray_cov = accuracy_and_coverage(ray_clouds[name], room[name].mesh)
    print(f"{name}: median distance pinhole {pin_acc * 1000:.2f} mm, ray table {ray_acc * 1000:.2f} mm; "
          f"coverage {pin_cov:.3f} / {ray_cov:.3f}")
    assert ray_acc < pin_acc + 0.0015  # ToF noise is 1.5 mm + 1.5 mm/m
    assert ray_acc < 0.006
    assert ray_cov > pin_cov - 0.1


def test_ray_table_views_back_project_onto_the_cloud():
    """A ray-table frame's views are cropped from its undistorted pinhole resampling (z-depth with a K):
    every view pixel back-projects through that K onto the frame's measured points (the ray table's own
    back-projection), within the pixel's footprint (nearest-neighbour resampling, crop stride) - millimetres,
    where radial depth or the distorted grid read as a pinhole would be centimetres off."""
    from scipy.spatial import cKDTree

    from occnet_ros.geometry.camera import transform_points

    # the ray table's geometry, not the sensor: grazing dropouts thin the measured cloud beside a view pixel
    sim = HoloLensSimulator(SimSettings(seed=3, num_objects=4, num_frames=2, camera="hl2ss_long_throw", mask_errors=False,
                                        sensor="basic"))
    frame = sim.frame(0)
    camera = sim.ray_camera
    depth, _ = camera.decode(frame.depth_mm, "16UC1", None, 0.1, 5.0)
    instances = [InstanceInfo(i, c, s, t) for i, c, s, t in frame.instances]
    result = split_instances(depth, camera, frame.instance_ids, instances, frame.camera_pose, frame.stamp, FrameSettings())
    assert len(result.views) >= 2 and all(v.view is not None for v in result.views)
    measured, _ = camera.backproject(depth)
    tree = cKDTree(transform_points(frame.camera_pose, measured))
    for view in result.views:
        points = view.view.points()
        assert len(points) >= 50
        distance, _ = tree.query(points, k=1)
        footprint = view.view.depth[view.view.valid()].astype(np.float64) / view.view.k[0, 0]  # metres per view pixel
        assert (distance <= footprint).all(), (view.class_name, float((distance / footprint).max()))
        assert np.median(distance) <= 0.5 * np.median(footprint), (view.class_name, np.median(distance))
        if view.view.k[0, 0] == camera.resampler().intrinsics.fx:  # a crop at full resolution
            assert np.median(distance) < 0.004, (view.class_name, np.median(distance))
        # the view's object pixels are the instance's cloud (not the background behind it)
        on_cloud, _ = cKDTree(view.points).query(points, k=1)
        assert np.median(on_cloud) < np.median(footprint), (view.class_name, np.median(on_cloud))
    # without the resampling (radial depth on the distorted grid, read through the fitted K) it would not hold
    k = camera.resampler().intrinsics.k
    rows, cols = np.nonzero(np.isfinite(depth))
    z = depth[rows, cols].astype(np.float64)
    naive = np.stack([(cols - k[0, 2]) / k[0, 0] * z, (rows - k[1, 2]) / k[1, 1] * z, z], axis=1)
    assert np.median(tree.query(transform_points(frame.camera_pose, naive), k=1)[0]) > 0.01
