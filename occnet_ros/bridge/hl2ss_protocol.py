"""hl2ss's research-mode depth stream format, as its documentation and client lay it out (written here, not copied).

- A client connects to the stream's TCP port (long throw 3805, AHAT 3804) and sends its
  configuration; the first byte is the operating mode (0: data, 1: data + rig pose, 2: calibration).
- Mode 2 answers once with float32s: uv2x (H*W), uv2y (H*W), extrinsics (16), scale (1), AHAT only
  alias (1), undistort map x (H*W), y (H*W), undistorted intrinsics fx, fy, cx, cy (4).
- Modes 0/1 stream packets: uint64 timestamp (100 ns device ticks) and uint32 payload size, little
  endian; the payload; in mode 1 the rig pose, 16 float32 (row-vector 4x4).
- A depth payload is depth then active brightness, uint16 each, possibly followed by the frame's
  sensor ticks (uint64). hl2ss compresses it (PNG for long throw, H.265 / Zdepth for AHAT) unless
  asked for raw; the built-in reader here takes raw payloads only: hl2ss's own client decodes the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

PORTS = {"long_throw": 3805, "ahat": 3804}
SIZES = {"long_throw": (320, 288), "ahat": (512, 512)}  # (width, height)
MODE_DATA, MODE_POSE, MODE_CALIBRATION = 0, 1, 2
HEADER = struct.Struct("<QI")
POSE_BYTES = 64


@dataclass
class Calibration:
    uv2xy: np.ndarray  # (H, W, 2) unit-plane x, y per pixel
    extrinsics: np.ndarray  # (4, 4) rig -> camera, row vectors
    scale: float  # raw units per metre
    alias: float  # AHAT wrap in raw units; 0 for long throw
    undistort_map: np.ndarray  # (H, W, 2) distorted pixel (u, v) of each undistorted pixel
    k: np.ndarray  # (3, 3) undistorted pinhole


def calibration_floats(stream: str) -> int:
    width, height = SIZES[stream]
    return 4 * width * height + 16 + 1 + (1 if stream == "ahat" else 0) + 4


def parse_calibration(data: bytes, stream: str) -> Calibration:
    width, height = SIZES[stream]
    count = calibration_floats(stream)
    if len(data) != 4 * count:
        raise ValueError(f"{stream} calibration is {len(data)} bytes, expected {4 * count}")
    floats = np.frombuffer(data, "<f4")
    pixels = width * height
    at = 0

    def take(n: int) -> np.ndarray:
        nonlocal at
        at += n
        return floats[at - n : at]

    uv2x, uv2y = take(pixels).reshape(height, width), take(pixels).reshape(height, width)
    extrinsics = take(16).reshape(4, 4).astype(np.float64)
    scale = float(take(1)[0])
    alias = float(take(1)[0]) if stream == "ahat" else 0.0
    mapx, mapy = take(pixels).reshape(height, width), take(pixels).reshape(height, width)
    fx, fy, cx, cy = take(4).astype(np.float64)
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    return Calibration(np.dstack([uv2x, uv2y]), extrinsics, scale, alias, np.dstack([mapx, mapy]), k)


def pack_calibration(calibration: Calibration, stream: str) -> bytes:
    c = calibration
    parts = [c.uv2xy[..., 0], c.uv2xy[..., 1], c.extrinsics, [c.scale]] + ([[c.alias]] if stream == "ahat" else [])
    parts += [c.undistort_map[..., 0], c.undistort_map[..., 1], [c.k[0, 0], c.k[1, 1], c.k[0, 2], c.k[1, 2]]]
    return np.concatenate([np.asarray(p, "<f4").ravel() for p in parts]).tobytes()


@dataclass
class Packet:
    timestamp: int
    payload: bytes
    pose: np.ndarray | None  # (4, 4) float32, row vectors


def pack_packet(packet: Packet) -> bytes:
    pose = b"" if packet.pose is None else np.asarray(packet.pose, "<f4").tobytes()
    return HEADER.pack(packet.timestamp, len(packet.payload)) + packet.payload + pose


class PacketReader:
    """Incremental parser of the packet stream: feed bytes, take whole packets."""

    def __init__(self, with_pose: bool, max_payload: int = 16 << 20) -> None:
        self.with_pose, self.max_payload = with_pose, max_payload
        self.buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Packet]:
        self.buffer.extend(chunk)
        packets = []
        while len(self.buffer) >= HEADER.size:
            timestamp, size = HEADER.unpack_from(self.buffer)
            if size > self.max_payload:
                raise ValueError(f"packet payload of {size} bytes exceeds {self.max_payload}: not an hl2ss depth stream")
            total = HEADER.size + size + (POSE_BYTES if self.with_pose else 0)
            if len(self.buffer) < total:
                break
            payload = bytes(self.buffer[HEADER.size : HEADER.size + size])
            pose = None
            if self.with_pose:
                pose = np.frombuffer(bytes(self.buffer[HEADER.size + size : total]), "<f4").reshape(4, 4)
            del self.buffer[:total]
            packets.append(Packet(timestamp, payload, pose))
        return packets


def pack_depth_payload(depth: np.ndarray, ab: np.ndarray | None = None, sensor_ticks: int | None = None) -> bytes:
    ab = np.zeros_like(depth) if ab is None else ab
    tail = b"" if sensor_ticks is None else struct.pack("<Q", sensor_ticks)
    return np.asarray(depth, "<u2").tobytes() + np.asarray(ab, "<u2").tobytes() + tail


def unpack_depth_payload(payload: bytes, stream: str) -> np.ndarray:
    """(H, W) uint16 raw radial depth of an uncompressed payload; ValueError for anything else."""
    width, height = SIZES[stream]
    plane = width * height * 2
    if len(payload) not in (2 * plane, 2 * plane + 8):
        raise ValueError(f"{stream} payload is {len(payload)} bytes, an uncompressed one is {2 * plane} (+8): "
                         "compressed (PNG / H.265 / Zdepth) payloads need hl2ss's client (hl2ss_client: hl2ss)")
    return np.frombuffer(payload[:plane], "<u2").reshape(height, width).copy()
