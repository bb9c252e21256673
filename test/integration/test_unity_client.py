"""The C# client (unity/OccnetBridge) against the real BridgeServer, built with mono's mcs.

The console program unity/tests/BridgeTestClient.cs converts what it received back to ROS axes
and ROS winding and writes it as little-endian float32/int32 bytes, so the comparison with the
meshes the server was given is bit-exact. No skipping: without mono the test fails and says how
to get it (`make build` installs the Debian package mono-mcs).
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import transforms3d
import trimesh

from occnet_ros.bridge import protocol as p

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "unity/OccnetBridge/Protocol.cs", ROOT / "unity/OccnetBridge/BridgeClient.cs",
           ROOT / "unity/tests/BridgeTestClient.cs"]


@pytest.fixture(scope="module")
def client_exe(tmp_path_factory) -> Path:
    mcs, mono = shutil.which("mcs"), shutil.which("mono")
    if not mcs or not mono:
        pytest.fail("the C# client test needs mono's compiler and runtime (`mcs`, `mono`): run `make build`, "
                    "which installs the Debian package mono-mcs (or: apt-get install -y mono-mcs)")
    out = tmp_path_factory.mktemp("csharp") / "BridgeTestClient.exe"
    # -warnaserror: the library must build cleanly; Unity compiles it with more warnings enabled
    build = subprocess.run([mcs, "-nologo", "-warn:4", "-warnaserror", "-optimize", "-r:System.dll", "-r:System.Core.dll",
                            f"-out:{out}", *map(str, SOURCES)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, f"mcs failed:\n{build.stdout}\n{build.stderr}"
    return out


class MonoClient:
    """The compiled console client as a child process; stdout lines are collected live."""

    def __init__(self, exe: Path, url: str, out: Path, *args: str) -> None:
        self.out = out
        self.process = subprocess.Popen([shutil.which("mono"), str(exe), "--url", url, "--out", str(out), *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.log.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no '{prefix}' line from the C# client within {timeout} s; got {self.log}")

    def finish(self, timeout: float = 20.0) -> tuple[int, dict]:
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        time.sleep(0.05)
        while not self.lines.empty():
            self.log.append(self.lines.get())
        result = self.out / "received.json"
        return code, json.loads(result.read_text()) if result.exists() else {}


def ros_mesh(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Float32-exact ROS object-frame meshes with asymmetric triangles (winding and order matter)."""
    rng = np.random.default_rng(7 if kind == "mug" else 3)
    mesh = trimesh.creation.icosphere(subdivisions=2) if kind == "mug" else trimesh.creation.box([0.2, 0.3, 0.4])
    vertices = (mesh.vertices * [0.05, 0.04, 0.09] if kind == "mug" else mesh.vertices) + rng.normal(0, 1e-3, mesh.vertices.shape)
    vertices[0] = [0.0, -0.0, 0.125]  # signed zeros and exact binary fractions
    return vertices.astype(np.float32), np.asarray(mesh.faces, np.int64)


def quaternion_xyzw(axis, angle) -> np.ndarray:
    w, x, y, z = transforms3d.quaternions.axangle2quat(axis, angle)
    return np.array([x, y, z, w])


def decode_mesh(entry: dict) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.frombuffer(base64.b64decode(entry["vertices_ros_f32le_b64"]), "<f4").reshape(-1, 3)
    faces = np.frombuffer(base64.b64decode(entry["faces_ros_i32le_b64"]), "<i4").reshape(-1, 3)
    assert len(vertices) == entry["vertex_count"] and len(faces) == entry["triangle_count"]
    return vertices, faces


def bits(values) -> np.ndarray:
    """float32 bit patterns, with -0.0 folded into +0.0: the server's ROS->Unity matrix product
    turns -y = -0.0 into +0.0 (a sum of products), the only place a sign of zero can change."""
    return (np.asarray(values, np.float32) + np.float32(0.0)).view(np.uint32)


@pytest.fixture
def servers(bridge_server):
    return lambda **kwargs: bridge_server(**{"heartbeat_s": 0.1, "client_timeout_s": 0.6, **kwargs})


def test_csharp_client_receives_meshes_bit_exact_in_ros_axes(client_exe, servers, tmp_path):
    s = servers(token="s3cret")
    box_v, box_f = ros_mesh("box")
    mug_v, mug_f = ros_mesh("mug")
    box_pose = ([1.0, 2.0, 0.5], [0.0, 0.0, 0.0, 1.0], [0.2, 0.3, 0.4])
    mug_pose = ([-0.75, 0.3, 1.1], quaternion_xyzw([0.3, -0.5, 0.8], 0.9), [0.1, 0.08, 0.18])  # rotated about a skew axis
    s.publish(p.MeshUpdate.from_ros(1, 4, "box", *box_pose, box_v, box_f))
    s.publish(p.MeshUpdate.from_ros(3, 1, "doomed", *box_pose, box_v[:3], [[0, 1, 2]]))
    time.sleep(0.05)

    client = MonoClient(client_exe, f"ws://127.0.0.1:{s.port}", tmp_path / "out", "--token", "s3cret",
                        "--until-objects", "1,2", "--linger", "1.0", "--timeout", "20")
    client.wait_for("snapshot_end count=2")
    # live after the snapshot: an older mug revision then the newest (latest-only), and a removal
    s.publish(p.MeshUpdate.from_ros(2, 1, "mug", *mug_pose, mug_v[::-1].copy(), mug_f[:, ::-1]))
    s.publish(p.MeshUpdate.from_ros(2, 2, "mug", *mug_pose, mug_v, mug_f))
    s.remove(3, 2)
    code, result = client.finish()
    assert code == 0, client.log
    assert any(line.startswith("removed id=3") for line in client.log)

    assert result["reached"] and result["connected_at_end"] and result["connections"] == 1 and result["snapshots"] == 1
    # it answered heartbeats (0.1 s) through the 1 s linger, so the server (0.6 s timeout) kept it
    assert result["heartbeats_answered"] >= 5 and s.stats["evicted"] == 0
    meshes = {m["object_id"]: m for m in result["meshes"]}
    assert sorted(meshes) == [1, 2]
    for object_id, sequence, name, (vertices, faces), (position, rotation, extents) in [
        (1, 4, "box", (box_v, box_f), box_pose), (2, 2, "mug", (mug_v, mug_f), mug_pose),
    ]:
        got = meshes[object_id]
        assert (got["sequence"], got["class_name"], got["index_size"]) == (sequence, name, 2)
        got_v, got_f = decode_mesh(got)
        assert np.array_equal(bits(got_v), bits(vertices)), f"object {object_id}: vertices differ"
        assert np.array_equal(got_f, faces), f"object {object_id}: triangles or their winding differ"
        # pose and extents travel as float32: back in ROS axes they are exactly float32(original)
        assert np.array_equal(bits(got["position_ros"]), bits(position))
        assert np.array_equal(bits(got["rotation_ros_xyzw"]), bits(rotation))
        assert np.array_equal(bits(got["extents_ros"]), bits(extents))
        # and in Unity axes as Unity sees them: unity = (-y, z, x), q -> (y, -z, -x, w)
        x, y, z = position
        assert np.array_equal(bits(got["position_unity"]), bits([-y, z, x]))
        qx, qy, qz, qw = rotation
        assert np.array_equal(bits(got["rotation_unity_xyzw"]), bits([qy, -qz, -qx, qw]))
        assert np.array_equal(bits(got["scale_unity"]), bits([extents[1], extents[2], extents[0]]))

    # the rotated pose means the same thing on both sides: world points agree after conversion
    mug = meshes[2]
    u = np.array(mug["rotation_unity_xyzw"], float)
    r_unity = transforms3d.quaternions.quat2mat([u[3], *u[:3]])
    world_unity = p.ros_to_unity_points(mug_v) @ r_unity.T + np.array(mug["position_unity"])
    r_ros = transforms3d.quaternions.quat2mat([mug_pose[1][3], *mug_pose[1][:3]])
    world_ros = mug_v.astype(float) @ r_ros.T + mug_pose[0]
    assert np.allclose(p.unity_to_ros_points(world_unity), world_ros, atol=1e-6)

    # the .obj files for people hold the same mesh
    obj = trimesh.load(tmp_path / "out" / "object_002_mug.obj", process=False)
    assert np.allclose(obj.vertices, mug_v, atol=1e-7) and np.array_equal(obj.faces, mug_f)


def test_csharp_client_reconnects_with_backoff_and_resyncs_from_the_snapshot(client_exe, servers, tmp_path):
    first = servers()
    box_v, box_f = ros_mesh("box")
    first.publish(p.MeshUpdate.from_ros(5, 1, "gone", [0, 0, 0], [0, 0, 0, 1], [1, 1, 1], box_v, box_f))
    time.sleep(0.05)
    client = MonoClient(client_exe, f"ws://127.0.0.1:{first.port}", tmp_path / "out", "--until-objects", "6",
                        "--timeout", "20", "--max-backoff", "0.5")
    client.wait_for("snapshot_end count=1")
    first.stop()
    client.wait_for("disconnected")
    time.sleep(0.3)  # a refused attempt or two: the client backs off and retries
    second = servers(port=first.port)
    second.publish(p.MeshUpdate.from_ros(6, 1, "new", [0, 0, 0], [0, 0, 0, 1], [1, 1, 1], box_v, box_f))
    code, result = client.finish()
    assert code == 0, client.log
    # object 5 was not in the new server's snapshot, so the client dropped it
    assert [m["object_id"] for m in result["meshes"]] == [6]
    assert any(line.startswith("removed id=5") for line in client.log), client.log
    assert result["connections"] == 2 and result["reconnect_attempts"] >= 2


def test_csharp_client_stops_on_a_bad_token(client_exe, servers, tmp_path):
    s = servers(token="s3cret")
    client = MonoClient(client_exe, f"ws://127.0.0.1:{s.port}", tmp_path / "out", "--token", "wrong", "--timeout", "10")
    code, result = client.finish()
    assert code == 3, client.log  # refused for good: no reconnect loop
    assert result["fatal_error"] == "BadToken" and result["connections"] == 0 and s.stats["refused"] == 1
    assert any(line.startswith("error code=BadToken") for line in client.log)


def test_csharp_client_skips_and_counts_bad_frames_without_reconnecting(client_exe, servers, tmp_path):
    s = servers()
    client = MonoClient(client_exe, f"ws://127.0.0.1:{s.port}", tmp_path / "out", "--until-objects", "8", "--timeout", "20")
    client.wait_for("snapshot_end count=0")
    bad_index = bytearray(p.encode_mesh(p.MeshUpdate.from_ros(9, 1, "bad", [0, 0, 0], [0, 0, 0, 1], [1, 1, 1], np.zeros((3, 3)), [[0, 1, 2]])))
    bad_index[-2:] = (999).to_bytes(2, "little")
    bad = [b"\x03\x01\x00\x00", bytes(bad_index), bytes([42, 1, 0, 0]), bytes([7, 2, 0, 0]) + bytes(8), "a text message"]

    def push() -> None:  # as if the server sent them
        for c in s.clients.values():
            c.control.extend(bad)
            c.wake.set()

    s.loop.call_soon_threadsafe(push)
    box_v, box_f = ros_mesh("box")
    s.publish(p.MeshUpdate.from_ros(8, 1, "after", [0, 0, 0], [0, 0, 0, 1], [1, 1, 1], box_v, box_f))
    code, result = client.finish()
    assert code == 0, client.log
    assert result["bad_frames"] == len(bad) and result["connections"] == 1 and result["reconnect_attempts"] == 0
    assert sum(line.startswith("bad_frame ") for line in client.log) == len(bad), client.log
    assert any("triangle index out of range" in line for line in client.log) and [m["object_id"] for m in result["meshes"]] == [8]
