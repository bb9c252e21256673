"""The per-instance cleaning of observe/frame.py against the slower references it replaced:
the dense voxel labelling vs the sparse graph, the sort-based voxel downsampling vs np.unique +
bincount."""

from __future__ import annotations

import numpy as np

from occnet_ros.observe import frame
from occnet_ros.observe.frame import largest_cluster, packed_voxels, voxel_downsample


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
