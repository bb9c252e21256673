"""Bridge protocol round trips, axis conversion both ways, and the server with real clients."""

from __future__ import annotations

import asyncio
import struct
import time

import numpy as np
import pytest
import transforms3d
import trimesh
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.client import mesh_in_ros, run_client
from occnet_ros.bridge.server import BridgeServer, BridgeSettings


def sample_update(object_id=3, sequence=1, faces=12) -> p.MeshUpdate:
    box = trimesh.creation.box([0.2, 0.3, 0.4])
    return p.MeshUpdate.from_ros(object_id, sequence, "mug", [1.0, 2.0, 0.5], [0.0, 0.0, np.sin(0.3), np.cos(0.3)],
                                 [0.2, 0.3, 0.4], box.vertices, box.faces[:faces])


def test_points_and_quaternions_convert_both_ways():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(20, 3))
    assert np.allclose(p.unity_to_ros_points(p.ros_to_unity_points(points)), points)
    # ROS forward (x) is Unity forward (z); ROS left (y) is Unity -x (right); up is up
    assert np.allclose(p.ros_to_unity_points(np.eye(3)), [[0, 0, 1], [-1, 0, 0], [0, 1, 0]])
    q = transforms3d.quaternions.axangle2quat([0.3, -0.5, 0.8], 0.9)  # w, x, y, z
    q_xyzw = np.array([q[1], q[2], q[3], q[0]])
    assert np.allclose(p.unity_to_ros_quaternion(p.ros_to_unity_quaternion(q_xyzw)), q_xyzw)
    # rotating a point in ROS then converting == converting then rotating in Unity
    r_ros = transforms3d.quaternions.quat2mat(q)
    u = p.ros_to_unity_quaternion(q_xyzw)
    r_unity = transforms3d.quaternions.quat2mat([u[3], u[0], u[1], u[2]])
    assert np.allclose(p.ros_to_unity_points(points @ r_ros.T), p.ros_to_unity_points(points) @ r_unity.T)


def test_winding_flip_keeps_outward_normals_after_the_mirror():
    box = trimesh.creation.box([1, 1, 1])
    mirrored = trimesh.Trimesh(p.ros_to_unity_points(box.vertices), p.flip_winding(box.faces), process=False)
    # in a left-handed frame a right-handed volume computation flips sign exactly once
    assert mirrored.volume == pytest.approx(-box.volume) or mirrored.volume == pytest.approx(box.volume)
    same_winding = trimesh.Trimesh(p.ros_to_unity_points(box.vertices), box.faces, process=False)
    assert np.sign(mirrored.volume) != np.sign(same_winding.volume)


def test_every_frame_round_trips():
    update = sample_update()
    frame = p.decode(p.encode_mesh(update)).fields["mesh"]
    assert frame.object_id == 3 and frame.class_name == "mug" and frame.sequence == 1
    assert np.array_equal(frame.vertices, update.vertices) and np.array_equal(frame.indices, update.indices)
    assert np.allclose(frame.position, update.position) and np.allclose(frame.rotation, update.rotation)
    assert p.decode(p.encode_hello("s3cret")).fields == {"version": 1, "token": "s3cret"}
    assert p.decode(p.encode_removed(4, 9)).fields == {"object_id": 4, "sequence": 9}
    assert p.decode(p.encode_drop(4, 9, p.DropReason.FRAME_TOO_LARGE, 123)).fields["size"] == 123
    assert p.decode(p.encode_error(p.ErrorCode.BAD_TOKEN, "no")).fields["code"] == p.ErrorCode.BAD_TOKEN
    assert p.decode(p.encode_heartbeat(1.5)).fields["time"] == 1.5


def test_mesh_round_trip_is_bit_exact_in_ros_axes():
    box = trimesh.creation.box([0.2, 0.3, 0.4])
    update = p.MeshUpdate.from_ros(1, 1, "box", [0, 0, 0], [0, 0, 0, 1], [1, 1, 1], box.vertices.astype(np.float32), box.faces)
    back = mesh_in_ros(p.decode(p.encode_mesh(update)).fields["mesh"])
    assert np.array_equal(back.vertices.astype(np.float32), box.vertices.astype(np.float32))
    assert np.array_equal(back.faces, box.faces)


def test_16_bit_indices_when_possible_32_otherwise():
    one_more = len(p.encode_mesh(sample_update(faces=12))) - len(p.encode_mesh(sample_update(faces=11)))
    assert one_more == 3 * 2  # a triangle costs three 16-bit indices
    big_vertices = np.zeros((70000, 3), np.float32)

    def big(triangles):
        return p.MeshUpdate(1, 1, "x", np.zeros(3), np.array([0, 0, 0, 1.0]), np.ones(3), big_vertices, triangles)

    two = np.array([[0, 1, 69999], [2, 3, 4]])
    assert len(p.encode_mesh(big(two))) - len(p.encode_mesh(big(two[:1]))) == 3 * 4
    assert p.decode(p.encode_mesh(big(two))).fields["mesh"].indices.max() == 69999


@pytest.mark.parametrize("data, message", [
    (b"\x03", "truncated"),
    (bytes([3, 2, 0, 0]), "version"),
    (bytes([42, 1, 0, 0]), "unknown frame type"),
    (p.encode_mesh(sample_update())[:-3], "truncated"),
    (p.encode_removed(1, 1) + b"x", "trailing"),
    ("text", "binary"),
])
def test_malformed_frames_raise_protocol_errors(data, message):
    with pytest.raises(p.ProtocolError, match=message):
        p.decode(data)


def test_out_of_range_index_is_rejected():
    frame = bytearray(p.encode_mesh(sample_update(faces=1)))
    struct.pack_into("<H", frame, len(frame) - 2, 999)
    with pytest.raises(p.ProtocolError, match="out of range"):
        p.decode(bytes(frame))


@pytest.fixture
def server(bridge_server):
    return bridge_server


def url(server) -> str:
    return f"ws://127.0.0.1:{server.port}"


def test_client_gets_snapshot_then_live_updates_and_removals(server):
    s = server()
    s.publish(sample_update(1))
    time.sleep(0.1)

    async def scenario():
        state = asyncio.create_task(run_client(url(s), duration_s=5, until=lambda st: 1 in st.removed))
        await asyncio.sleep(0.5)
        s.publish(sample_update(2, sequence=1))
        await asyncio.sleep(0.3)
        s.remove(1, 2)
        return await state

    state = asyncio.run(scenario())
    assert state.snapshots == 1 and state.session == 1
    assert set(state.meshes) == {2} and state.removed == [1]


def test_reconnecting_client_gets_the_full_state_again(server):
    s = server()
    for i in range(3):
        s.publish(sample_update(i))
    time.sleep(0.1)
    for _ in range(2):
        state = asyncio.run(run_client(url(s), duration_s=3, until=lambda st: st.snapshots == 1))
        assert set(state.meshes) == {0, 1, 2}


def test_token_and_client_limit_are_enforced(server):
    s = server(token="s3cret", max_clients=1)
    bad = asyncio.run(run_client(url(s), token="wrong", duration_s=2))
    assert bad.errors and bad.errors[0]["code"] == p.ErrorCode.BAD_TOKEN

    async def two_clients():
        first = asyncio.create_task(run_client(url(s), token="s3cret", duration_s=2))
        await asyncio.sleep(0.4)
        second = await run_client(url(s), token="s3cret", duration_s=1)
        return await first, second

    first, second = asyncio.run(two_clients())
    # the limit never locks the newcomer out: the least recently heard client makes room
    assert first.errors[0]["code"] == p.ErrorCode.TOO_MANY_CLIENTS and "replaced" in first.errors[0]["message"]
    assert not second.errors and second.session == 2 and s.stats["replaced"] == 1


def test_oversized_frame_becomes_a_drop_notice(server):
    s = server(max_frame_bytes=1024)
    big = sample_update(5)
    big.vertices = np.zeros((5000, 3), np.float32)
    s.publish(big)
    state = asyncio.run(run_client(url(s), duration_s=3, until=lambda st: st.drops))
    assert state.drops[0]["object_id"] == 5 and state.drops[0]["reason"] == p.DropReason.FRAME_TOO_LARGE
    assert 5 not in state.meshes


def test_slow_client_gets_latest_only(server):
    s = server(max_frame_bytes=8_000_000)
    count = 20

    def bulky(sequence):  # 2.4 MB frames: socket buffers cannot absorb 20 of them
        update = sample_update(7, sequence=sequence)
        update.vertices = np.full((200_000, 3), sequence, np.float32)
        return update

    async def slow():
        async with connect(url(s), max_size=None) as ws:
            await ws.send(p.encode_hello())
            for seq in range(1, count + 1):  # the client reads nothing while the updates arrive
                s.publish(bulky(seq))
            await asyncio.sleep(1.0)
            sequences = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and count not in sequences:
                frame = p.decode(await asyncio.wait_for(ws.recv(), 10))
                if frame.type == p.FrameType.MESH_UPDATE:
                    sequences.append(frame.fields["sequence"])
            return sequences

    sequences = asyncio.run(slow())
    assert sequences[-1] == count and sequences == sorted(sequences)
    assert len(sequences) < count and s.stats["coalesced"] > 0


def test_malformed_client_frames_get_bad_frame_and_oversized_ones_close_that_client_only(server):
    s = server()

    async def misbehave(payload: bytes):
        """Send ``payload`` after HELLO; the frames received within 3 s and the close code (None: still open)."""
        async with connect(url(s), max_size=None) as ws:
            await ws.send(p.encode_hello())
            await ws.send(payload)
            frames = []
            deadline = time.monotonic() + 3
            try:
                while time.monotonic() < deadline and not any(f.type == p.FrameType.ERROR for f in frames):
                    frames.append(p.decode(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))))
                await ws.send(p.encode_heartbeat(0.0))  # still usable after the ERROR
                return frames, None
            except ConnectionClosed:
                return frames, ws.close_code

    async def scenario():
        good = asyncio.create_task(run_client(url(s), duration_s=3))
        await asyncio.sleep(0.3)
        bad, bad_code = await misbehave(b"\x01\x02")
        _, big_code = await misbehave(b"\x07\x01\x00\x00" + bytes(200_000))  # over the 64 KiB client limit
        s.publish(sample_update(11))
        return await good, bad, bad_code, big_code

    good, bad, bad_code, big_code = asyncio.run(scenario())
    assert any(f.type == p.FrameType.ERROR and f.fields["code"] == p.ErrorCode.BAD_FRAME for f in bad)
    assert bad_code is None and big_code == 1009  # the bad frame keeps the connection / message too big
    assert s.stats["bad_frames"] == 1
    assert 11 in good.meshes and not good.errors and not good.closed and good.heartbeats >= 5


def test_first_frame_must_be_hello(server):
    s = server()

    async def rude():
        async with connect(url(s)) as ws:
            await ws.send(p.encode_heartbeat(0.0))
            return p.decode(await asyncio.wait_for(ws.recv(), 3))

    assert asyncio.run(rude()).fields["code"] == p.ErrorCode.HELLO_EXPECTED


@pytest.mark.parametrize("frame", [p.header(p.FrameType.ERROR) + struct.pack("<HH", 99, 0),
                                   p.header(p.FrameType.DROP_NOTICE) + struct.pack("<IIBI", 1, 1, 42, 10)])
def test_unknown_enum_values_are_protocol_errors(frame):
    with pytest.raises(p.ProtocolError, match="unknown"):
        p.decode(frame)


def test_evicting_a_client_that_does_not_read_does_not_stall_the_others():
    s = BridgeServer(BridgeSettings(port=0, heartbeat_s=0.1, client_timeout_s=0.5))
    port = s.start()

    async def scenario():
        async with connect(f"ws://127.0.0.1:{port}", max_queue=1) as silent:
            await silent.send(p.encode_hello())
            good = await run_client(f"ws://127.0.0.1:{port}", duration_s=3.0)
            silent.transport.abort()
            return good

    try:
        good = asyncio.run(scenario())
    finally:
        s.stop()
        s.stop()  # idempotent
    assert s.stats["evicted"] >= 1 and good.heartbeats >= 20
