"""Reference Python client of the bridge protocol; also `occnet bridge-client` (saves .obj)."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import trimesh
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from occnet_ros.bridge import protocol as p


@dataclass
class ClientState:
    meshes: dict[int, p.MeshUpdate] = field(default_factory=dict)
    removed: list[int] = field(default_factory=list)
    drops: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    heartbeats: int = 0
    snapshots: int = 0
    session: int | None = None
    closed: bool = False
    bad_frames: int = 0  # frames from the server that did not decode: skipped, counted
    last_bad_frame: str = ""


def mesh_in_ros(update: p.MeshUpdate) -> trimesh.Trimesh:
    """The received mesh back in ROS axes (object frame), winding restored."""
    return trimesh.Trimesh(p.unity_to_ros_points(update.vertices), p.flip_winding(update.indices), process=False)


def apply_frame(state: ClientState, frame: p.Frame) -> None:
    f = frame.fields
    if frame.type == p.FrameType.WELCOME:
        state.session = f["session"]
    elif frame.type == p.FrameType.MESH_UPDATE:
        state.meshes[f["object_id"]] = f["mesh"]
    elif frame.type == p.FrameType.OBJECT_REMOVED:
        state.meshes.pop(f["object_id"], None)
        state.removed.append(f["object_id"])
    elif frame.type == p.FrameType.SNAPSHOT_END:
        state.snapshots += 1
    elif frame.type == p.FrameType.HEARTBEAT:
        state.heartbeats += 1
    elif frame.type == p.FrameType.DROP_NOTICE:
        state.drops.append(f)
    elif frame.type == p.FrameType.ERROR:
        state.errors.append(f)


async def run_client(url: str, token: str = "", duration_s: float = 5.0, until=None, out_dir: Path | None = None,
                     ssl_context=None, state: ClientState | None = None) -> ClientState:
    """Connect, say HELLO, apply frames to ``state`` (live) for duration_s, until ``until(state)``
    is true, or until the server closes the connection."""
    state = state if state is not None else ClientState()
    deadline = time.monotonic() + duration_s
    async with connect(url, ssl=ssl_context, max_size=None, compression=None) as ws:
        await ws.send(p.encode_hello(token))
        while time.monotonic() < deadline and not (until and until(state)):
            try:
                raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            except ConnectionClosed:
                state.closed = True
                break
            try:
                frame = p.decode(raw)
            except p.ProtocolError as error:  # a bad frame is skipped and counted, the connection goes on
                state.bad_frames += 1
                state.last_bad_frame = str(error)
                continue
            apply_frame(state, frame)
            if frame.type == p.FrameType.HEARTBEAT:
                await ws.send(p.encode_heartbeat(time.time()))
            if frame.type == p.FrameType.MESH_UPDATE and out_dir is not None:
                save_obj(frame.fields["mesh"], out_dir)
            if frame.type == p.FrameType.ERROR and frame.fields["code"] != p.ErrorCode.BAD_FRAME:
                break  # refused or replaced: the server closes; BAD_FRAME keeps the connection
    return state


def safe_file_part(name: str, limit: int = 64) -> str:
    """A class name as part of a file name: letters, digits, '-' and '_' only, bounded."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:limit] or "_"


def save_obj(update: p.MeshUpdate, out_dir: Path) -> Path:
    """Write the mesh as out_dir/object_<id>_<class>.obj; the name never leaves out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"object_{update.object_id:03d}_{safe_file_part(update.class_name)}.obj"
    mesh_in_ros(update).export(path)
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="occnet-bridge-client", description="receive meshes from the occnet bridge")
    parser.add_argument("--url", default="ws://127.0.0.1:9190")
    parser.add_argument("--token", default="")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, help="save every received mesh as .obj (ROS axes) here")
    args = parser.parse_args(argv)
    state = asyncio.run(run_client(args.url, args.token, args.seconds, out_dir=args.out))
    for object_id, mesh in sorted(state.meshes.items()):
        print(f"object {object_id} ({mesh.class_name}) seq {mesh.sequence}: {len(mesh.vertices)} vertices, {len(mesh.indices)} triangles")
    for error in state.errors:
        print(f"server error {error['code'].name}: {error['message']}")
    if state.bad_frames:
        print(f"{state.bad_frames} bad frames skipped (last: {state.last_bad_frame})")
    return 1 if state.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
