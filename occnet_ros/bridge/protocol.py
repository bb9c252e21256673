"""occnet bridge wire protocol v1 (docs/bridge_protocol.md): little-endian binary frames.

Every frame starts with a 4-byte header: u8 type, u8 version, u16 reserved (0). Geometry is
converted on the server from ROS (right-handed, x forward, y left, z up; REP-103) to Unity
(left-handed, x right, y up, z forward): unity = (-y_ros, z_ros, x_ros); quaternions
(x, y, z, w) -> (y, -z, -x, w); triangle winding is reversed because the change of
handedness mirrors the mesh.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

VERSION = 1
HEADER = struct.Struct("<BBH")
MAX_STRING_BYTES = 0xFFFF  # the wire's u16 string length
MAX_CLASS_NAME_BYTES = 255  # the server truncates longer class names (on a UTF-8 character boundary)


class FrameType(IntEnum):
    HELLO = 1
    WELCOME = 2
    MESH_UPDATE = 3
    OBJECT_REMOVED = 4
    SNAPSHOT_BEGIN = 5
    SNAPSHOT_END = 6
    HEARTBEAT = 7
    DROP_NOTICE = 8
    ERROR = 9


class DropReason(IntEnum):
    FRAME_TOO_LARGE = 1


class ErrorCode(IntEnum):
    BAD_FRAME = 1
    UNSUPPORTED_VERSION = 2
    BAD_TOKEN = 3
    TOO_MANY_CLIENTS = 4
    HELLO_EXPECTED = 5


class ProtocolError(ValueError):
    """A frame that does not follow the protocol."""


# ---- axis conversion -------------------------------------------------------------------
ROS_TO_UNITY = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def ros_to_unity_points(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ ROS_TO_UNITY.T


def unity_to_ros_points(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ ROS_TO_UNITY


def ros_to_unity_quaternion(q_xyzw: np.ndarray) -> np.ndarray:
    x, y, z, w = q_xyzw
    return np.array([y, -z, -x, w])


def unity_to_ros_quaternion(q_xyzw: np.ndarray) -> np.ndarray:
    x, y, z, w = q_xyzw
    return np.array([-z, x, -y, w])


def flip_winding(indices: np.ndarray) -> np.ndarray:
    return np.asarray(indices).reshape(-1, 3)[:, [0, 2, 1]]


# ---- frames ----------------------------------------------------------------------------
@dataclass
class MeshUpdate:
    """A mesh in Unity axes: vertices in the object frame, the object's pose in the world."""

    object_id: int
    sequence: int
    class_name: str
    position: np.ndarray  # (3,) metres, Unity axes
    rotation: np.ndarray  # (4,) x, y, z, w, Unity axes
    scale: np.ndarray  # (3,) object extents along Unity x, y, z
    vertices: np.ndarray  # (V, 3) float32
    indices: np.ndarray  # (T, 3) int, Unity winding

    @classmethod
    def from_ros(cls, object_id: int, sequence: int, class_name: str, position, quaternion_xyzw, extents, vertices, faces) -> MeshUpdate:
        """Convert a ROS object (REP-103 axes) to the wire's Unity axes."""
        return cls(
            object_id, sequence, class_name,
            ros_to_unity_points(np.asarray(position, float)[None])[0],
            ros_to_unity_quaternion(np.asarray(quaternion_xyzw, float)),
            np.abs(ROS_TO_UNITY) @ np.asarray(extents, float),
            ros_to_unity_points(vertices).astype(np.float32),
            flip_winding(faces),
        )


def header(kind: FrameType) -> bytes:
    return HEADER.pack(kind, VERSION, 0)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > MAX_STRING_BYTES:
        raise ProtocolError("string longer than 65535 bytes")
    return struct.pack("<H", len(data)) + data


def truncate_utf8(data: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of UTF-8 ``data``, cut before a character, never inside one."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and (data[end] & 0xC0) == 0x80:  # a continuation byte: back up to the lead byte
        end -= 1
    return data[:end]


def sanitize_class_name(name: str, limit: int = MAX_CLASS_NAME_BYTES) -> str:
    """A class name fit for the wire: control characters and characters UTF-8 cannot encode
    (lone surrogates) become '?', and the result is at most ``limit`` UTF-8 bytes, truncated on a
    character boundary."""
    cleaned = "".join("?" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in name)
    return truncate_utf8(cleaned.encode("utf-8", errors="replace"), limit).decode("utf-8")


def encode_hello(token: str = "") -> bytes:
    return header(FrameType.HELLO) + struct.pack("<H", VERSION) + _string(token)


def encode_welcome(session: int, objects: int) -> bytes:
    return header(FrameType.WELCOME) + struct.pack("<HII", VERSION, session, objects)


def encode_mesh(update: MeshUpdate) -> bytes:
    """The MESH_UPDATE frame. The class name goes through ``sanitize_class_name``; a triangle
    index outside the vertices, an index count that is not a multiple of 3 or a non-finite vertex
    or pose raise ProtocolError (the caller skips the update and counts it)."""
    with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf: rejected below
        vertices = np.ascontiguousarray(update.vertices, dtype="<f4").reshape(-1, 3)
    indices = np.asarray(update.indices)
    if indices.size % 3:
        raise ProtocolError(f"index count {indices.size} is not a multiple of 3")
    if indices.size and not np.issubdtype(indices.dtype, np.integer):
        raise ProtocolError(f"triangle indices must be integers, not {indices.dtype}")
    indices = indices.reshape(-1)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(vertices)):
        bad = int(indices.min()) if indices.min() < 0 else int(indices.max())
        raise ProtocolError(f"triangle index {bad} out of range for {len(vertices)} vertices")
    if len(vertices) > 0xFFFFFFFF or len(indices) > 0xFFFFFFFF:
        raise ProtocolError("mesh too large for u32 counts")
    pose = np.concatenate([np.ravel(update.position), np.ravel(update.rotation), np.ravel(update.scale)]).astype(np.float64)
    if pose.shape != (10,):
        raise ProtocolError("position, rotation and scale need 3, 4 and 3 values")
    with np.errstate(over="ignore"):
        finite = np.isfinite(vertices).all() and np.isfinite(pose.astype(np.float32)).all()
    if not finite:
        raise ProtocolError("non-finite vertex or pose value")
    if not (0 <= update.object_id <= 0xFFFFFFFF and 0 <= update.sequence <= 0xFFFFFFFF):
        raise ProtocolError("object id and sequence must fit in u32")
    wide = len(vertices) > 0xFFFF
    index_bytes = np.ascontiguousarray(indices, dtype="<u4" if wide else "<u2").tobytes()
    head = struct.pack("<II", update.object_id, update.sequence) + _string(sanitize_class_name(update.class_name))
    head += struct.pack("<10fIIB", *pose, len(vertices), len(indices), 4 if wide else 2)
    return header(FrameType.MESH_UPDATE) + head + vertices.tobytes() + index_bytes


def encode_removed(object_id: int, sequence: int) -> bytes:
    return header(FrameType.OBJECT_REMOVED) + struct.pack("<II", object_id, sequence)


def encode_snapshot_begin(count: int) -> bytes:
    return header(FrameType.SNAPSHOT_BEGIN) + struct.pack("<I", count)


def encode_snapshot_end(count: int) -> bytes:
    return header(FrameType.SNAPSHOT_END) + struct.pack("<I", count)


def encode_heartbeat(time_s: float) -> bytes:
    return header(FrameType.HEARTBEAT) + struct.pack("<d", time_s)


def encode_drop(object_id: int, sequence: int, reason: DropReason, size: int) -> bytes:
    return header(FrameType.DROP_NOTICE) + struct.pack("<IIBI", object_id, sequence, reason, size)


def encode_error(code: ErrorCode, message: str) -> bytes:
    return header(FrameType.ERROR) + struct.pack("<H", code) + _string(message)


# ---- decoding --------------------------------------------------------------------------
@dataclass
class Frame:
    type: FrameType
    fields: dict = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = memoryview(data), 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ProtocolError("frame is truncated")
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values

    def string(self) -> str:
        (length,) = self.take("<H")
        raw = bytes(self.take(f"<{length}s")[0])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ProtocolError("string is not UTF-8") from error

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.offset + size > len(self.data):
            raise ProtocolError("frame is truncated")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset).copy()
        self.offset += size
        return out

    def done(self) -> None:
        if self.offset != len(self.data):
            raise ProtocolError(f"{len(self.data) - self.offset} unexpected trailing bytes")


def _enum(kind: type[IntEnum], value: int) -> IntEnum:
    try:
        return kind(value)
    except ValueError as error:
        raise ProtocolError(f"unknown {kind.__name__} {value}") from error


def decode(data: bytes) -> Frame:
    """Parse any frame; raises ProtocolError for anything malformed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError("frames are binary WebSocket messages")
    reader = _Reader(bytes(data))
    kind, version, _ = reader.take("<BBH")
    if version != VERSION:
        raise ProtocolError(f"unsupported protocol version {version}")
    try:
        kind = FrameType(kind)
    except ValueError as error:
        raise ProtocolError(f"unknown frame type {kind}") from error
    f: dict = {}
    if kind == FrameType.HELLO:
        (f["version"],) = reader.take("<H")
        f["token"] = reader.string()
    elif kind == FrameType.WELCOME:
        f["version"], f["session"], f["objects"] = reader.take("<HII")
    elif kind == FrameType.MESH_UPDATE:
        f["object_id"], f["sequence"] = reader.take("<II")
        f["class_name"] = reader.string()
        values = reader.take("<3f4f3fIIB")
        position, rotation, scale = np.array(values[0:3]), np.array(values[3:7]), np.array(values[7:10])
        n_vertices, n_indices, index_size = values[10:13]
        if index_size not in (2, 4) or n_indices % 3:
            raise ProtocolError("bad index size or count")
        vertices = reader.array("<f4", 3 * n_vertices).reshape(-1, 3)
        indices = reader.array("<u2" if index_size == 2 else "<u4", n_indices).astype(np.int64).reshape(-1, 3)
        if len(indices) and indices.max() >= n_vertices:
            raise ProtocolError("triangle index out of range")
        f["mesh"] = MeshUpdate(f["object_id"], f["sequence"], f["class_name"], position, rotation, scale, vertices, indices)
    elif kind == FrameType.OBJECT_REMOVED:
        f["object_id"], f["sequence"] = reader.take("<II")
    elif kind in (FrameType.SNAPSHOT_BEGIN, FrameType.SNAPSHOT_END):
        (f["count"],) = reader.take("<I")
    elif kind == FrameType.HEARTBEAT:
        (f["time"],) = reader.take("<d")
    elif kind == FrameType.DROP_NOTICE:
        f["object_id"], f["sequence"], reason, f["size"] = reader.take("<IIBI")
        f["reason"] = _enum(DropReason, reason)
    elif kind == FrameType.ERROR:
        (code,) = reader.take("<H")
        f["code"], f["message"] = _enum(ErrorCode, code), reader.string()
    reader.done()
    return Frame(kind, f)
