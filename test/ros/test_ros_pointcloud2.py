"""The hand-written PointCloud2 conversions agree with sensor_msgs_py (the upstream package) both ways."""

from __future__ import annotations

import numpy as np
import pytest
from ros_helpers import MISSING

if MISSING:
    pytest.skip(MISSING, allow_module_level=True)

from sensor_msgs.msg import PointField  # noqa: E402
from sensor_msgs_py import point_cloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from occnet_ros.nodes.conversions import cloud_to_xyz, xyz_cloud  # noqa: E402


def test_xyz_cloud_reads_back_through_sensor_msgs_py():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(257, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(257, 3))
    for colours in (None, rgb):
        msg = xyz_cloud(points, Header(frame_id="map"), colours)
        read = point_cloud2.read_points_numpy(msg, field_names=("x", "y", "z"))
        assert np.array_equal(read, points)
        assert [f.name for f in msg.fields] == [f.name for f in point_cloud2.create_cloud_xyz32(msg.header, points).fields] + (
            [] if colours is None else ["rgb"])
        if colours is not None:
            packed = point_cloud2.read_points_numpy(msg, field_names=("rgb",)).ravel().view(np.uint32)
            assert np.array_equal(packed, (rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]).astype(np.uint32))


def test_sensor_msgs_py_clouds_read_by_cloud_to_xyz():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(100, 3)).astype(np.float32)
    header = Header(frame_id="camera")
    assert np.array_equal(cloud_to_xyz(point_cloud2.create_cloud_xyz32(header, points)), points.astype(np.float64))
    # another layout: intensity first, x/y/z after it, plus a trailing field
    fields = [PointField(name="intensity", offset=0, datatype=PointField.FLOAT32, count=1),
              *[PointField(name=n, offset=4 + 4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")],
              PointField(name="ring", offset=16, datatype=PointField.UINT16, count=1)]
    rows = [(float(i), *map(float, p), i % 16) for i, p in enumerate(points)]
    cloud = point_cloud2.create_cloud(header, fields, rows)
    assert np.allclose(cloud_to_xyz(cloud), points, atol=0)
    with pytest.raises(ValueError, match="float32 field 'x'"):
        cloud_to_xyz(point_cloud2.create_cloud(header, fields[:1], [(1.0,)]))
