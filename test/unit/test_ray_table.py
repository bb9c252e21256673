"""Ray-table cameras (HoloLens 2 / hl2ss radial depth): accuracy at the corners, bad input, files, resampling."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from occnet_ros.geometry.camera import HL2_LONG_THROW, backproject, decode_depth, transform_points
from occnet_ros.geometry.ray_table import (
    PinholeResampler,
    RayTableCamera,
    RayTableError,
    distorted_table,
    load_ray_table,
    save_ray_table,
)
from occnet_ros.geometry.raycast import look_at, raycasting_scene
from occnet_ros.sim.hl2ss_camera import hl2ss_camera, render_radial

CORNERS = [(0, 0), (0, 319), (287, 0), (287, 319)]


@pytest.fixture(scope="module")
def wall_scene():
    wall = trimesh.creation.box([0.02, 8.0, 8.0])
    wall.apply_translation([2.0, 0.0, 1.5])
    floor_box = trimesh.creation.box([1.0, 1.0, 1.0])
    floor_box.apply_translation([1.4, 0.3, 1.2])
    return raycasting_scene([wall, floor_box]), [wall, floor_box]


def true_hits(meshes, camera: RayTableCamera, pose: np.ndarray, pixels: list[int]) -> np.ndarray:
    """World points where the pixels' rays meet the meshes (trimesh's own ray test, not open3d)."""
    mesh = trimesh.util.concatenate(meshes)
    directions = camera.unit_rays[pixels] @ pose[:3, :3].T
    origins = np.broadcast_to(pose[:3, 3], directions.shape)
    locations, ray_index, _ = mesh.ray.intersects_location(origins, directions, multiple_hits=False)
    points = np.full((len(pixels), 3), np.nan)
    points[ray_index] = locations
    return points


def test_corner_points_within_1mm_of_truth_and_pinhole_path_is_off(wall_scene):
    scene, meshes = wall_scene
    camera = hl2ss_camera("hl2ss_long_throw")
    pose = look_at(np.array([0.0, 0.0, 1.5]), np.array([2.0, 0.1, 1.4]))
    radial, _ = render_radial(scene, camera, pose)
    raw = np.nan_to_num(radial * 1000.0).round().astype(np.uint16)  # hl2ss: uint16 mm along the ray
    flat = [r * camera.width + c for r, c in CORNERS]
    truth = true_hits(meshes, camera, pose, flat)
    depth, wrapped = camera.decode(raw, "16UC1", None, 0.1, 7.0)
    assert wrapped == 0
    points, index = camera.backproject(depth)
    world = transform_points(pose, points)
    got = np.full((camera.width * camera.height, 3), np.nan)
    got[index] = world
    errors = np.linalg.norm(got[flat] - truth, axis=1)
    print(f"corner errors (mm): {np.round(errors * 1000, 3)}")
    assert np.isfinite(errors).all() and errors.max() < 1e-3, errors
    # the same raw frame taken as pinhole z-depth: centimetres off at the corners
    pin_points, pin_index = backproject(decode_depth(raw, "16UC1", None, 0.1, 7.0), HL2_LONG_THROW)
    pinhole = np.full((camera.width * camera.height, 3), np.nan)
    pinhole[pin_index] = transform_points(pose, pin_points)
    pinhole_errors = np.linalg.norm(pinhole[flat] - truth, axis=1)
    print(f"pinhole-path corner errors (mm): {np.round(pinhole_errors * 1000, 1)}")
    assert pinhole_errors.min() > 0.05


def test_backproject_dispatches_to_the_ray_camera():
    camera = RayTableCamera(distorted_table(HL2_LONG_THROW, 0.0))  # an undistorted table = the pinhole
    z = np.full((288, 320), 2.0, np.float32)
    radial = z * camera.norm().astype(np.float32)
    ray_points, ray_index = backproject(radial, camera)
    pin_points, pin_index = backproject(z, HL2_LONG_THROW)
    assert np.array_equal(ray_index, pin_index)
    assert np.abs(ray_points - pin_points).max() < 1e-5


def test_bad_input_is_a_clear_error():
    table = distorted_table(HL2_LONG_THROW, 0.05)
    with pytest.raises(RayTableError, match="shape"):
        RayTableCamera(table[..., 0])
    broken = table.copy()
    broken[3, 4] = np.nan
    with pytest.raises(RayTableError, match="1 pixel.*NaN"):
        RayTableCamera(broken)
    with pytest.raises(RayTableError, match="depth scale"):
        RayTableCamera(table, metres_per_unit=0.0)
    camera = RayTableCamera(table)
    with pytest.raises(RayTableError, match="512x512 but the ray table is 320x288"):
        camera.decode(np.zeros((512, 512), np.uint16), "16UC1")
    with pytest.raises(RayTableError, match="depth scale"):
        camera.decode(np.zeros((288, 320), np.uint16), "16UC1", depth_scale=0.0)
    with pytest.raises(RayTableError, match="encoding"):
        camera.decode(np.zeros((288, 320), np.uint8), "mono8")


def test_ahat_values_beyond_the_wrap_are_dropped_and_counted():
    camera = hl2ss_camera("hl2ss_ahat")
    raw = np.full((512, 512), 600, np.uint16)
    raw[:10, :10] = 1056  # at the wrap
    raw[10, :5] = 4000  # beyond it
    depth, wrapped = camera.decode(raw, "16UC1", None, 0.1, 5.0)
    assert wrapped == 105
    assert np.isnan(depth[:10, :10]).all() and np.isnan(depth[10, :5]).all()
    assert np.isfinite(depth[100:, 100:]).all()


def test_file_round_trip_and_wrong_size(tmp_path):
    camera = RayTableCamera(distorted_table(HL2_LONG_THROW, 0.08), metres_per_unit=0.00025, alias=1056)
    loaded = load_ray_table(save_ray_table(tmp_path / "lt.npz", camera), size=(320, 288))
    assert np.array_equal(loaded.xy, camera.xy) and loaded.alias == 1056
    assert loaded.metres_per_unit == pytest.approx(0.00025)
    np.save(tmp_path / "table.npy", camera.xy)
    assert load_ray_table(tmp_path / "table.npy").width == 320
    with pytest.raises(RayTableError, match="320x288 but the depth image is 512x512"):
        load_ray_table(tmp_path / "table.npy", size=(512, 512))
    np.savez(tmp_path / "zero.npz", uv2xy=camera.xy, scale=np.float32(0))
    with pytest.raises(RayTableError, match="scale"):
        load_ray_table(tmp_path / "zero.npz")
    with pytest.raises(RayTableError, match="does not exist"):
        load_ray_table(tmp_path / "missing.npz")


def test_pinhole_resampling_keeps_every_point_on_its_surface(wall_scene):
    """The views of a ray-table frame are undistorted pinhole z-depth images; a point read back
    through the pinhole K lies on the measured surface (the wall at x = 1.99 m)."""
    scene, _ = wall_scene
    camera = hl2ss_camera("hl2ss_long_throw")
    pose = look_at(np.array([0.0, 0.0, 1.5]), np.array([2.0, 0.0, 1.5]))  # square on to the wall, box in view
    radial, geometry = render_radial(scene, camera, pose)
    resampler = PinholeResampler(camera)
    z, ids = resampler.resample(radial, (geometry == 0).astype(np.uint16))
    assert z.shape == (resampler.intrinsics.height, resampler.intrinsics.width)
    wall = (ids == 1) & np.isfinite(z)
    assert wall.mean() > 0.3
    points, _ = backproject(np.where(wall, z, np.nan), resampler.intrinsics)
    world = transform_points(pose, points)
    assert np.abs(world[:, 0] - 1.99).max() < 0.01  # nearest-neighbour: within the pixel's footprint
