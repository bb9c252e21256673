"""Helpers for the bridge tests (no ROS): meshes, raw connections, waiting, injected frames, a client that never reads."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable

import numpy as np
import trimesh
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.server import BridgeServer


def box_update(object_id: int = 1, sequence: int = 1, class_name: str = "box", vertices: int = 0) -> p.MeshUpdate:
    """A small box, or with ``vertices`` a bulky mesh (12 bytes per vertex on the wire)."""
    box = trimesh.creation.box([0.2, 0.3, 0.4])
    points = box.vertices if not vertices else np.full((vertices, 3), 0.5)
    return p.MeshUpdate.from_ros(object_id, sequence, class_name, [1, 0, 0], [0, 0, 0, 1], [0.2, 0.3, 0.4], points, box.faces)


def url(server: BridgeServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


async def async_wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return condition()


def inject(server: BridgeServer, *frames: bytes | str) -> None:
    """Queue raw frames (str: a text message) to every connected client as if the server sent them."""
    def push() -> None:
        for client in server.clients.values():
            client.control.extend(frames)
            client.wake.set()

    server.loop.call_soon_threadsafe(push)


def bad_server_frames() -> list[bytes | str]:
    """Frames a client must skip and count: truncated, bad index, unknown type, version, enum, text."""
    bad_index = bytearray(p.encode_mesh(box_update(9)))
    struct.pack_into("<H", bad_index, len(bad_index) - 2, 999)
    return [b"\x03\x01\x00\x00", bytes(bad_index), bytes([42, 1, 0, 0]), bytes([7, 2, 0, 0]) + bytes(8),
            p.header(p.FrameType.ERROR) + struct.pack("<HH", 99, 0), "a text message"]


async def hello(server: BridgeServer, token: str = "", **kwargs):
    """A raw connection that said HELLO (the caller reads, or deliberately does not)."""
    ws = await connect(url(server), max_size=None, compression=None, **kwargs)
    await ws.send(p.encode_hello(token))
    return ws


async def frames_until(ws, predicate: Callable[[p.Frame], bool], timeout: float = 5.0) -> list[p.Frame]:
    """Frames received until one satisfies ``predicate`` (answering heartbeats on the way)."""
    deadline, frames = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        frame = p.decode(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        frames.append(frame)
        if frame.type == p.FrameType.HEARTBEAT:
            try:
                await ws.send(p.encode_heartbeat(0.0))
            except ConnectionClosed:  # closed meanwhile: what it queued before is still to read
                pass
        if predicate(frame):
            return frames
    raise AssertionError(f"no matching frame within {timeout} s: {[f.type.name for f in frames]}")


def small_receive_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast when it does not read
    sock.connect(("127.0.0.1", port))
    return sock


async def stalled_reader(server: BridgeServer, stop: asyncio.Event) -> tuple:
    """A client that answers heartbeats (every 50 ms) but never reads: returns (ws, heartbeat task)."""
    ws = await connect(url(server), sock=small_receive_buffer_socket(server.port), max_size=None, max_queue=1, compression=None)
    await ws.send(p.encode_hello())

    async def beat():
        try:
            while not stop.is_set():
                await ws.send(p.encode_heartbeat(0.0))
                await asyncio.sleep(0.05)
        except ConnectionClosed:
            pass

    return ws, asyncio.create_task(beat())
