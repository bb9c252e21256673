"""ROS message <-> numpy/trimesh/DepthView conversions, vectorised (no ros2_numpy, no sensor_msgs_py).

Pure functions over message classes; no node, no rclpy.
"""

from __future__ import annotations

import numpy as np
import transforms3d
import trimesh
from geometry_msgs.msg import Point, Pose, Quaternion, Transform, Vector3
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from shape_msgs.msg import Mesh, MeshTriangle
from std_msgs.msg import Header

from occnet_ros.geometry.camera import Intrinsics
from occnet_ros.geometry.views import DepthView, ViewError, make_view
from occnet_ros.msg import ObjectView

IMAGE_DTYPES = {
    "16UC1": np.uint16, "mono16": np.uint16, "32FC1": np.float32, "mono8": np.uint8, "8UC1": np.uint8,
    "32SC1": np.int32, "16SC1": np.int16, "32FC3": np.float32,
}


def image_to_array(msg: Image) -> np.ndarray:
    """(H, W) array of a single-channel image; honours row padding and endianness."""
    if msg.encoding not in IMAGE_DTYPES:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}; expected one of {sorted(IMAGE_DTYPES)}")
    dtype = np.dtype(IMAGE_DTYPES[msg.encoding]).newbyteorder(">" if msg.is_bigendian else "<")
    channels = 3 if msg.encoding.endswith("C3") else 1
    row_bytes = msg.width * dtype.itemsize * channels
    if msg.step < row_bytes or len(msg.data) < msg.step * msg.height:
        raise ValueError(
            f"image data is {len(msg.data)} bytes with step {msg.step}; {msg.width}x{msg.height} "
            f"{msg.encoding} needs step >= {row_bytes} and {msg.step * msg.height} bytes"
        )
    buffer = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=msg.step * msg.height)
    rows = buffer.reshape(msg.height, msg.step)[:, :row_bytes]
    array = np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder("="))
    return array.reshape(msg.height, msg.width, channels) if channels > 1 else array.reshape(msg.height, msg.width)


def array_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """A single-channel Image message of a (H, W) array."""
    dtype = np.dtype(IMAGE_DTYPES[encoding])
    array = np.ascontiguousarray(array, dtype=dtype)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=False)
    msg.step = array.shape[1] * dtype.itemsize
    msg.data = array.tobytes()
    if header is not None:
        msg.header = header
    return msg


def intrinsics_from_camera_info(msg: CameraInfo) -> Intrinsics:
    """Pinhole intrinsics of a CameraInfo; raises ValueError when K is unusable."""
    return Intrinsics.from_k(msg.width, msg.height, list(msg.k))


def camera_info_from_intrinsics(intrinsics: Intrinsics, header: Header | None = None) -> CameraInfo:
    msg = CameraInfo(width=intrinsics.width, height=intrinsics.height, distortion_model="plumb_bob")
    msg.k = intrinsics.k.reshape(-1).tolist()
    msg.d = [0.0] * 5
    msg.r = np.eye(3).reshape(-1).tolist()
    p = np.zeros((3, 4))
    p[:, :3] = intrinsics.k
    msg.p = p.reshape(-1).tolist()
    if header is not None:
        msg.header = header
    return msg


def xyz_cloud(points: np.ndarray, header: Header, rgb: np.ndarray | None = None) -> PointCloud2:
    """PointCloud2 with float32 x, y, z (and packed float rgb when given)."""
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    data = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    if rgb is not None:
        fields.append(PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1))
        packed = (rgb[:, 0].astype(np.uint32) << 16 | rgb[:, 1].astype(np.uint32) << 8 | rgb[:, 2].astype(np.uint32))
        data = np.concatenate([data, packed.view(np.float32)[:, None]], axis=1)
    msg = PointCloud2(header=header, height=1, width=len(data), fields=fields, is_bigendian=False)
    msg.point_step = 4 * data.shape[1]
    msg.row_step = msg.point_step * len(data)
    msg.is_dense = bool(np.isfinite(data[:, :3]).all())
    msg.data = data.astype(np.float32).tobytes()
    return msg


def cloud_to_xyz(msg: PointCloud2) -> np.ndarray:
    """(N, 3) float64 x, y, z of a PointCloud2 with float32 x/y/z fields (any layout)."""
    offsets = {f.name: f for f in msg.fields}
    for name in "xyz":
        if name not in offsets or offsets[name].datatype != PointField.FLOAT32:
            raise ValueError(f"PointCloud2 needs float32 field '{name}'")
    count = msg.width * msg.height
    if len(msg.data) < count * msg.point_step:
        raise ValueError(f"PointCloud2 has {len(msg.data)} bytes for {count} points of {msg.point_step}")
    dtype = np.dtype({
        "names": list("xyz"),
        "formats": [np.dtype(">f4" if msg.is_bigendian else "<f4")] * 3,
        "offsets": [offsets[n].offset for n in "xyz"],
        "itemsize": msg.point_step,
    })
    structured = np.frombuffer(bytes(msg.data), dtype=dtype, count=count)
    return np.stack([structured[n] for n in "xyz"], axis=1).astype(np.float64)


def mesh_to_msg(mesh: trimesh.Trimesh) -> Mesh:
    msg = Mesh()
    msg.vertices = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(mesh.vertices)]
    msg.triangles = [MeshTriangle(vertex_indices=[int(a), int(b), int(c)]) for a, b, c in np.asarray(mesh.faces)]
    return msg


def mesh_arrays_from_msg(msg: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (V, 3) float64, faces (T, 3) int64) of a shape_msgs/Mesh."""
    vertices = np.array([[p.x, p.y, p.z] for p in msg.vertices], dtype=np.float64).reshape(-1, 3)
    faces = np.array([list(t.vertex_indices) for t in msg.triangles], dtype=np.int64).reshape(-1, 3)
    return vertices, faces


def mesh_from_msg(msg: Mesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(*mesh_arrays_from_msg(msg), process=False)


def matrix_to_pose(matrix: np.ndarray) -> Pose:
    w, x, y, z = transforms3d.quaternions.mat2quat(matrix[:3, :3])
    t = matrix[:3, 3]
    return Pose(position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2])), orientation=Quaternion(x=x, y=y, z=z, w=w))


def pose_to_matrix(pose: Pose) -> np.ndarray:
    q = pose.orientation
    m = np.eye(4)
    m[:3, :3] = transforms3d.quaternions.quat2mat([q.w, q.x, q.y, q.z])
    m[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return m


def transform_to_matrix(transform: Transform) -> np.ndarray:
    q, t = transform.rotation, transform.translation
    m = np.eye(4)
    m[:3, :3] = transforms3d.quaternions.quat2mat([q.w, q.x, q.y, q.z])
    m[:3, 3] = [t.x, t.y, t.z]
    return m


def matrix_to_transform(matrix: np.ndarray) -> Transform:
    w, x, y, z = transforms3d.quaternions.mat2quat(matrix[:3, :3])
    t = matrix[:3, 3]
    return Transform(translation=Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])), rotation=Quaternion(x=x, y=y, z=z, w=w))


QUATERNION_TOLERANCE = 1e-3
MASK_ENCODINGS = ("mono8", "8UC1")


def view_to_msg(view: DepthView, header: Header) -> ObjectView:
    """An ObjectView of a depth view (``header``: the frame's stamp, the world frame)."""
    msg = ObjectView(header=header, world_from_camera=matrix_to_pose(view.world_from_camera))
    msg.k = np.asarray(view.k, dtype=np.float64).reshape(-1)
    msg.depth = array_to_image(np.nan_to_num(view.depth, nan=0.0), "32FC1", header)
    msg.mask = array_to_image(np.where(view.mask, 255, 0).astype(np.uint8), "mono8", header)
    return msg


def view_from_msg(msg: ObjectView, world_frame: str | None = None) -> DepthView:
    """The depth view of an ObjectView; ViewError naming the field for a message that cannot be
    one (wrong encoding or frame, sizes that differ, a pose that is not rigid or holds NaN, a
    singular K, negative depth)."""
    if world_frame and msg.header.frame_id and msg.header.frame_id != world_frame:
        raise ViewError(f"header.frame_id is '{msg.header.frame_id}', expected the world frame '{world_frame}'")
    if msg.depth.encoding != "32FC1":
        raise ViewError(f"depth encoding must be 32FC1 (metres), got {msg.depth.encoding!r}")
    if msg.mask.encoding not in MASK_ENCODINGS:
        raise ViewError(f"mask encoding must be mono8, got {msg.mask.encoding!r}")
    try:
        depth = image_to_array(msg.depth)
    except ValueError as error:
        raise ViewError(f"depth: {error}") from error
    try:
        mask = image_to_array(msg.mask)
    except ValueError as error:
        raise ViewError(f"mask: {error}") from error
    q = msg.world_from_camera.orientation
    quaternion = np.array([q.w, q.x, q.y, q.z], dtype=np.float64)
    position = msg.world_from_camera.position
    if not np.isfinite(quaternion).all() or not np.isfinite([position.x, position.y, position.z]).all():
        raise ViewError("world_from_camera holds NaN or inf")
    if abs(np.linalg.norm(quaternion) - 1.0) > QUATERNION_TOLERANCE:
        raise ViewError(f"world_from_camera orientation is not a unit quaternion (norm {np.linalg.norm(quaternion):.4g})")
    k = np.asarray(msg.k, dtype=np.float64)
    if k.size != 9:
        raise ViewError(f"k must hold 9 values, got {k.size}")
    return make_view(depth, mask != 0, k.reshape(3, 3), pose_to_matrix(msg.world_from_camera), "view")
