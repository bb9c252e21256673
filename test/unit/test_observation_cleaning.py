"""The per-instance cleaning of observe/frame.py against the slower references it replaced:
pixel-window outlier removal vs a k-d tree's statistical outlier removal on simulated ToF frames
with flying pixels, the dense voxel labelling vs the sparse graph, the sort-based voxel
downsampling vs np.unique + bincount."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scenes import poses_around, two_object_scene
from scipy import ndimage
from scipy.spatial import cKDTree

from occnet_ros.geometry.camera import HL2_LONG_THROW, backproject, transform_points
from occnet_ros.geometry.raycast import raycasting_scene, render_depth
from occnet_ros.geometry.sensor import SensorModel
from occnet_ros.observe import frame
from occnet_ros.observe.frame import erode_instances, largest_cluster, packed_voxels, pixel_outliers, voxel_downsample

BAD_M = 0.02  # a point this far from its object's surface is background or a flying pixel


def knn_outliers(points: np.ndarray, neighbors: int = 12, std_ratio: float = 2.5) -> np.ndarray:
    """Keep-mask of the statistical outlier removal frame.py ran before (k-d tree, every point)."""
    distances, _ = cKDTree(points).query(points, k=neighbors + 1)
    mean = distances[:, 1:].mean(axis=1)
    return mean <= mean.mean() + std_ratio * mean.std()


@pytest.fixture(scope="module")
def noisy_instances():
    """ToF frames (noise, dropouts, flying pixels) of a box and a can on a floor before a wall, from
    three ranges; masks dilated by 2 pixels (spill onto the floor and wall) and eroded by 1, as the
    node does: (camera points, flat pixel indices, distance of each point to its object's surface)."""
    meshes = two_object_scene()
    floor = trimesh.creation.box([4.0, 4.0, 0.02]).apply_translation([0.0, 0.0, -0.01])
    wall = trimesh.creation.box([0.05, 4.0, 3.0]).apply_translation([-1.6, 0.0, 1.5])
    scene = raycasting_scene([*meshes, floor, wall])
    rng = np.random.default_rng(0)
    out = []
    for radius in (1.0, 1.6, 2.5):
        for pose in poses_around(3, radius=radius):
            depth, geometry = render_depth(scene, HL2_LONG_THROW, pose)
            depth = SensorModel().apply(depth, rng)  # the basic ToF model
            for index, mesh in enumerate(meshes):
                ids = erode_instances(ndimage.binary_dilation(geometry == index, iterations=2).astype(np.int64), 1)
                points, pixel = backproject(depth, HL2_LONG_THROW, mask=ids > 0)
                if len(points) < 50:
                    continue
                _, distance, _ = trimesh.proximity.closest_point(mesh, transform_points(pose, points))
                out.append((points, pixel, distance))
    return out


def test_pixel_outliers_remove_flying_pixels_as_well_as_the_kd_tree_did(noisy_instances):
    bad = bad_left = bad_left_knn = good = good_lost = good_lost_knn = 0
    for points, pixel, distance in noisy_instances:
        keep = pixel_outliers(points, pixel, HL2_LONG_THROW.width, 12, 2.5)
        is_bad = distance > BAD_M
        # the reference ran on the voxel-downsampled cloud: compare on the points each one keeps
        cells = packed_voxels(points, 0.004)[0]
        inverse = np.unique(cells, return_inverse=True)[1]
        knn_keep = knn_outliers(voxel_downsample(points, 0.004))[inverse.reshape(-1)]
        bad += is_bad.sum()
        bad_left += (keep & is_bad).sum()
        bad_left_knn += (knn_keep & is_bad).sum()
        good += (~is_bad).sum()
        good_lost += (~keep & ~is_bad).sum()
        good_lost_knn += (~knn_keep & ~is_bad).sum()
    assert bad > 500  # the scene has spill and flying pixels to remove
    assert bad_left <= bad_left_knn and bad_left < 0.45 * bad, (bad_left, bad_left_knn, bad)
    assert good_lost <= max(good_lost_knn, 0.005 * good), (good_lost, good_lost_knn, good)


def test_pixel_outliers_edge_cases():
    points = np.array([[0.0, 0.0, 1.0], [0.005, 0.0, 1.0], [0.0, 0.005, 1.0]], dtype=np.float32)
    assert pixel_outliers(points, np.array([0, 1, 320]), 320, 12, 2.5).all()  # too few points: all kept
    assert pixel_outliers(points, np.array([0, 1, 320]), 320, 0, 2.5).all()  # off
    v, u = np.mgrid[10:30, 10:30]
    grid = np.column_stack([(u.ravel() - 160) * 0.005, (v.ravel() - 144) * 0.005, np.ones(v.size)]).astype(np.float32)
    pixel = (v * 320 + u).ravel()
    lone = np.array([[0.0, 0.0, 1.0]], dtype=np.float32)  # a pixel with no other point in its window
    flying = grid[:1] + [0.0, 0.0, 0.4]  # a pixel 40 cm behind its neighbours
    keep = pixel_outliers(np.concatenate([grid[1:], flying, lone]), np.concatenate([pixel[1:], pixel[:1], [200 * 320 + 200]]),
                          320, 12, 2.5)
    assert keep[:-2].all() and not keep[-2] and not keep[-1]
    # in the image's corner (pixel 0) the window reaches past the image: the same verdicts as inside
    corner = ((v - 10) * 320 + (u - 10)).ravel()
    assert np.array_equal(pixel_outliers(grid, corner, 320, 12, 2.5), pixel_outliers(grid, pixel, 320, 12, 2.5))


def test_voxel_downsample_matches_unique_and_bincount():
    rng = np.random.default_rng(3)
    for points in (rng.normal(scale=0.2, size=(5000, 3)).astype(np.float32), rng.uniform(-3, 3, size=(300, 3)) + 1e3):
        keys, _ = packed_voxels(points, 0.01)
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        sums = np.stack([np.bincount(inverse, weights=points[:, axis], minlength=len(counts)) for axis in range(3)], axis=1)
        assert np.array_equal(voxel_downsample(points, 0.01), sums / counts[:, None])


def test_dense_voxel_labels_match_the_sparse_graph(monkeypatch):
    rng = np.random.default_rng(4)
    clouds = [np.concatenate([rng.normal(c, 0.02, size=(n, 3)) for c, n in zip(rng.uniform(-0.3, 0.3, (5, 3)), sizes)])
              for sizes in ([200, 200, 50, 10, 3], [100] * 5, [1, 1, 1, 1, 1], [400, 3, 3, 3, 3])]  # ties included
    clouds.append(np.array([[0.0, 0.0, 0.0], [0.04, 0.0, 0.0], [5.0, 5.0, 5.0], [5.04, 5.0, 5.0]]))  # two of two
    dense = [largest_cluster(c, 0.03) for c in clouds]
    monkeypatch.setattr(frame, "DENSE_CLUSTER_CELLS", 0)  # every grid "huge": the sparse graph
    for cloud, expected in zip(clouds, dense):
        assert np.array_equal(largest_cluster(cloud, 0.03), expected)
