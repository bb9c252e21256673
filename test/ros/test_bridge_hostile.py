"""Hostile and unlucky input to the bridge (issue 19): every case gives a clear error or a counted
skip, and the server, the node and the clients live on. Loopback only, port 0, deadlines."""

from __future__ import annotations

import asyncio
import hmac
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import numpy as np
import pytest
import trimesh
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.client import ClientState, run_client, save_obj
from occnet_ros.bridge.server import BridgeServer, BridgeSettings


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


# ---- encoder: class names and indices ----------------------------------------------------------
def test_class_name_over_65535_bytes_is_truncated_on_a_utf8_boundary_and_counted(bridge_server):
    name = "a" + "é" * 40_000  # 80,001 bytes; a 2-byte character straddles byte 255
    assert len(name.encode()) > 0xFFFF
    frame = p.decode(p.encode_mesh(box_update(class_name=name))).fields["mesh"]
    assert len(frame.class_name.encode()) == 255 and name.startswith(frame.class_name)  # 254 would cut an é: 1 + 2k
    assert p.sanitize_class_name("cup\x00\n\x7f\ud800") == "cup????"  # control characters, a lone surrogate
    assert p.truncate_utf8("€€".encode(), 4) == "€".encode()  # never half a character

    s = bridge_server()
    s.publish(box_update(1, class_name=name))
    s.publish(box_update(2, class_name="cup"))
    state = asyncio.run(run_client(url(s), duration_s=5, until=lambda st: {1, 2} <= set(st.meshes)))
    assert state.meshes[1].class_name == frame.class_name and state.meshes[2].class_name == "cup"
    assert s.stats["class_names_truncated"] == 1 and not state.bad_frames


@pytest.mark.parametrize("change, message", [
    (lambda u: setattr(u, "indices", np.array([[0, 1, 99]])), "triangle index 99 out of range for 8 vertices"),
    (lambda u: setattr(u, "indices", np.array([[0, -1, 2]])), "triangle index -1 out of range"),
    (lambda u: setattr(u, "indices", np.array([0, 1, 2, 3])), "not a multiple of 3"),
    (lambda u: setattr(u, "indices", np.array([[0.0, 1.0, 2.0]])), "must be integers"),
    (lambda u: u.vertices.__setitem__((0, 0), np.nan), "non-finite"),
    (lambda u: setattr(u, "position", np.array([1e39, 0, 0])), "non-finite"),  # inf as float32
    (lambda u: setattr(u, "object_id", 2**32), "u32"),
])
def test_bad_meshes_are_clear_protocol_errors_and_the_server_goes_on(bridge_server, change, message):
    s = bridge_server()
    bad = box_update(1)
    change(bad)
    with pytest.raises(p.ProtocolError, match=message):
        s.publish(bad)
    s.publish(box_update(2))
    state = asyncio.run(run_client(url(s), duration_s=5, until=lambda st: 2 in st.meshes))
    assert set(state.meshes) == {2}


def test_python_client_saves_class_names_as_safe_file_names(tmp_path):
    path = save_obj(box_update(3, class_name="x/../../../../elsewhere/NAME"), tmp_path / "out")
    assert path.parent == tmp_path / "out" and path.name == "object_003_x_____________elsewhere_NAME.obj"


# ---- the node: every callback is a boundary ---------------------------------------------------
def test_callback_boundary_logs_each_reason_once_then_rate_limited():
    from occnet_ros.nodes.unity_bridge import CallbackBoundary

    class Logger:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def error(self, text: str) -> None:
            self.lines.append(("error", text))

        def warning(self, text: str) -> None:
            self.lines.append(("warning", text))

    logger = Logger()
    boundary = CallbackBoundary(logger, period_s=3600.0)
    calls = []

    def callback(value: int) -> None:
        calls.append(value)
        if value % 2:
            raise KeyError(value)
        if value == 4:
            raise ValueError("four")

    guarded = boundary.guard("on_thing", callback)
    for value in range(100):
        guarded(value)  # never raises
    assert len(calls) == 100 and boundary.counts == {"on_thing_KeyError": 50, "on_thing_ValueError": 1}
    assert [kind for kind, _ in logger.lines] == ["error", "error"]  # one line per reason
    assert "Traceback" not in logger.lines[0][1] and "KeyError" in logger.lines[0][1]
    boundary.period_s = 0.0  # period over: the next one logs with the count since the last line
    guarded(1)
    assert logger.lines[-1][0] == "warning" and "50 more since the last report" in logger.lines[-1][1]


def ros_object(object_id: int, class_name: str = "box", triangles=((0, 1, 2), (0, 2, 3)), revision: int = 1):
    from geometry_msgs.msg import Point
    from shape_msgs.msg import MeshTriangle

    from occnet_ros.msg import ReconstructedObject

    msg = ReconstructedObject(id=object_id, class_name=class_name, status=ReconstructedObject.STATUS_RECONSTRUCTED, revision=revision)
    msg.mesh.vertices = [Point(x=float(x), y=float(y), z=0.0) for x, y in [(0, 0), (1, 0), (1, 1), (0, 1)]]
    msg.mesh.triangles = [MeshTriangle(vertex_indices=list(t)) for t in triangles]
    msg.pose.orientation.w = 1.0
    return msg


def test_unity_bridge_node_survives_bad_objects_and_counts_them(monkeypatch):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter
    from ros_helpers import ros_context, spin_until

    from occnet_ros.msg import ReconstructedObject, ReconstructedObjectArray
    from occnet_ros.nodes import unity_bridge
    from occnet_ros.nodes.qos import LATCHED

    real = unity_bridge.update_from_message

    def flaky(msg):  # an unexpected failure inside the callback (not a ProtocolError)
        if msg.id == 3:
            raise RuntimeError("boom")
        return real(msg)

    monkeypatch.setattr(unity_bridge, "update_from_message", flaky)
    with ros_context() as context:
        import rclpy

        node = unity_bridge.UnityBridgeNode(context=context, parameter_overrides=[Parameter("port", value=0)])
        feeder = rclpy.create_node("feeder", context=context)
        try:
            objects = feeder.create_publisher(ReconstructedObject, "objects", 10)
            arrays = feeder.create_publisher(ReconstructedObjectArray, "objects/array", LATCHED)
            diagnostics: list[dict[str, str]] = []
            feeder.create_subscription(DiagnosticArray, "/diagnostics",
                                       lambda m: diagnostics.extend({v.key: v.value for v in s.values} for s in m.status), 10)
            assert spin_until([node, feeder], lambda: objects.get_subscription_count() and arrays.get_subscription_count(), context=context)
            long_name = "é" * 40_000
            for msg in [ros_object(1, long_name), ros_object(2, triangles=((0, 1, 99),)), ros_object(3), ros_object(4, "cup")]:
                objects.publish(msg)
            assert spin_until([node, feeder], lambda: node.published == 2 and node.boundary.counts.total() == 2, context=context), \
                (node.published, node.boundary.counts)
            # one bad object in the latched array spoils no other
            arrays.publish(ReconstructedObjectArray(objects=[ros_object(1, long_name), ros_object(5, triangles=((7, 7, 7),)),
                                                             ros_object(4, "cup"), ros_object(6, "mug")]))
            assert spin_until([node, feeder], lambda: node.published == 3, context=context)
            assert spin_until([node, feeder], lambda: any(d.get("bad_mesh") == "2" for d in diagnostics), context=context)
            assert node.boundary.counts == {"bad_mesh": 2, "on_object_RuntimeError": 1}
            assert node.diagnostic_counts()["class_names_truncated"] == 1
            latest = [d for d in diagnostics if d.get("bad_mesh") == "2"][-1]
            assert latest["on_object_RuntimeError"] == "1" and latest["published"] == "3"

            # still alive: a client gets the good objects (3 was never sent, 2 and 5 were refused)
            state = asyncio.run(run_client(f"ws://127.0.0.1:{node.port}", duration_s=5, until=lambda st: st.snapshots))
            assert sorted(state.meshes) == [1, 4, 6] and state.meshes[1].class_name == "é" * 127
            assert not state.bad_frames and not state.errors
        finally:
            node.close()
            node.destroy_node()
            feeder.destroy_node()


# ---- client limit ------------------------------------------------------------------------------
def test_full_server_replaces_the_least_recently_heard_client(bridge_server):
    s = bridge_server(max_clients=2, client_timeout_s=30.0, heartbeat_s=0.1)

    async def scenario():
        quiet = await hello(s)  # reads, never answers
        await frames_until(quiet, lambda f: f.type == p.FrameType.SNAPSHOT_END)
        chatty = await hello(s)
        stop = asyncio.Event()

        async def answer():
            while not stop.is_set():
                await chatty.send(p.encode_heartbeat(0.0))
                await asyncio.sleep(0.05)

        answering = asyncio.create_task(answer())
        await asyncio.sleep(0.3)
        newcomer = await run_client(url(s), duration_s=5, until=lambda st: st.snapshots)
        quiet_frames = await frames_until(quiet, lambda f: f.type == p.FrameType.ERROR)
        try:
            await asyncio.wait_for(quiet.recv(), 3)
        except ConnectionClosed:
            pass
        stop.set()
        await answering
        alive = chatty.state.name == "OPEN"
        await chatty.close()
        await quiet.close()
        return newcomer, quiet_frames[-1], quiet.close_code, alive

    newcomer, error, code, chatty_alive = asyncio.run(scenario())
    assert newcomer.session == 3 and not newcomer.errors  # the newcomer got a slot
    assert error.fields["code"] == p.ErrorCode.TOO_MANY_CLIENTS and "replaced" in error.fields["message"] and code == 1008
    assert chatty_alive and s.stats["replaced"] == 1 and s.stats["refused"] == 0


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


def test_full_server_replaces_a_stalled_client_before_a_quiet_one(bridge_server):
    s = bridge_server(max_clients=2, client_timeout_s=30.0, stall_timeout_s=30.0, heartbeat_s=0.1, max_frame_bytes=50_000_000)
    bulky = [box_update(100 + i, vertices=200_000) for i in range(10)]  # built before: the loop stays free

    async def scenario():
        stop = asyncio.Event()
        quiet = await hello(s)  # heard from least recently, but it reads
        await frames_until(quiet, lambda f: f.type == p.FrameType.SNAPSHOT_END)
        stalled, beating = await stalled_reader(s, stop)
        assert await async_wait_until(lambda: 2 in s.clients)
        for update in bulky:  # 10 x 2.4 MB: far more than the socket buffers hold
            s.publish(update)
        reading = asyncio.create_task(frames_until(quiet, lambda f: f.type == p.FrameType.MESH_UPDATE and f.fields["object_id"] == 109))
        assert await async_wait_until(lambda: 2 in s.clients and s.clients[2].stalled_for(time.monotonic()) > 0.5)
        newcomer = await run_client(url(s), duration_s=5, until=lambda st: st.snapshots)
        await reading
        stop.set()
        await beating
        quiet_open, sessions = quiet.state.name == "OPEN", sorted(s.clients)
        await quiet.close()
        return newcomer, sessions, quiet_open

    newcomer, sessions, quiet_open = asyncio.run(scenario())
    assert newcomer.session == 3 and not newcomer.errors and quiet_open
    assert s.stats["replaced"] == 1 and sessions == [1]  # the stalled 2 made room; 3 came and went


# ---- tokens ------------------------------------------------------------------------------------
def test_tokens_compare_in_constant_time_and_failures_back_off(bridge_server, monkeypatch):
    compared = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    s = bridge_server(token="s3cret", token_backoff_s=0.1, token_backoff_max_s=0.4)

    async def attempts():
        times = []
        for _ in range(5):
            start = time.monotonic()
            state = await run_client(url(s), token="guess", duration_s=5)
            times.append(time.monotonic() - start)
            assert state.errors[0]["code"] == p.ErrorCode.BAD_TOKEN
        start = time.monotonic()
        good = await run_client(url(s), token="s3cret", duration_s=5, until=lambda st: st.snapshots)
        return times, good, time.monotonic() - start

    times, good, good_time = asyncio.run(attempts())
    # waits before the checks 2..5: 0.1, 0.2, 0.4 (cap), 0.4 s; the right token waits the cap once more
    assert sum(times) >= 1.0 and times[3] >= 0.35 and times[4] >= 0.35, times
    assert not good.errors and good.snapshots == 1 and good_time >= 0.35
    assert s.stats["bad_tokens"] == 5 and not s.token_failures  # forgotten after a success
    assert compared == [(b"guess", b"s3cret")] * 5 + [(b"s3cret", b"s3cret")]


def test_parallel_token_guesses_from_one_address_are_serialised_and_throttled(bridge_server):
    s = bridge_server(token="s3cret", token_backoff_s=0.05, token_backoff_max_s=0.1, max_token_waiters=3)

    async def scenario():
        await run_client(url(s), token="first", duration_s=5)
        start = time.monotonic()
        results = await asyncio.gather(*[run_client(url(s), token=f"guess{i}", duration_s=5) for i in range(12)])
        return results, time.monotonic() - start

    results, elapsed = asyncio.run(scenario())
    codes = [r.errors[0]["code"] for r in results]
    checked, throttled = codes.count(p.ErrorCode.BAD_TOKEN), codes.count(p.ErrorCode.TOO_MANY_CLIENTS)
    assert checked + throttled == 12 and throttled == s.stats["token_throttled"] >= 1
    assert s.stats["bad_tokens"] == 1 + checked and elapsed >= 0.05 * checked  # one check per back-off, not in parallel
    good = asyncio.run(run_client(url(s), token="s3cret", duration_s=5, until=lambda st: st.snapshots))
    assert not good.errors  # the server and the right token still work


def test_failed_token_memory_is_bounded():
    s = BridgeServer(BridgeSettings(token="x", max_tracked_addresses=16, token_backoff_s=1.0, token_backoff_max_s=4.0))
    delays = [s._record_token_failure("10.0.0.1") for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    for i in range(5000):
        s._record_token_failure(f"10.1.{i // 256}.{i % 256}")
    assert len(s.token_failures) == 16 and "10.1.19.135" in s.token_failures  # the newest kept, the oldest forgotten
    assert "10.0.0.1" not in s.token_failures and s.stats["bad_tokens"] == 5005


# ---- clients that heartbeat but never read -----------------------------------------------------
def test_client_that_heartbeats_but_never_reads_is_evicted_and_the_good_client_keeps_its_latency(bridge_server):
    s = bridge_server(heartbeat_s=0.1, client_timeout_s=2.0, stall_timeout_s=1.0, max_frame_bytes=50_000_000)
    bulky = [box_update(100 + i, vertices=200_000) for i in range(10)]  # 24 MB the stalled client never reads
    small = [box_update(1, sequence) for sequence in range(1, 101)]
    arrivals: dict[int, float] = {}
    sent: dict[int, float] = {}

    class Timed(dict):  # arrival time of every revision of object 1
        def __setitem__(self, key, value):
            if key == 1:
                arrivals.setdefault(value.sequence, time.perf_counter())
            super().__setitem__(key, value)

    state = ClientState(meshes=Timed())
    results: list[ClientState] = []
    good = threading.Thread(target=lambda: results.append(asyncio.run(run_client(
        url(s), duration_s=20, until=lambda st: 1 in st.meshes and st.meshes[1].sequence == len(small), state=state))), daemon=True)
    good.start()  # in its own thread and event loop, as a real client would be
    assert wait_until(lambda: state.snapshots == 1)

    async def hostile():
        stop = asyncio.Event()
        stalled, beating = await stalled_reader(s, stop)
        assert await async_wait_until(lambda: len(s.clients) == 2)
        for update in bulky:
            s.publish(update)
        for update in small:  # the good client's latency while the stalled one is there and then evicted
            sent[update.sequence] = time.perf_counter()
            s.publish(update)
            await asyncio.sleep(0.02)
        assert await async_wait_until(lambda: s.stats["evicted_stalled"] >= 1)
        stop.set()
        await beating

    asyncio.run(hostile())
    good.join(20)
    result = results[0]
    assert s.stats["evicted_stalled"] == 1 and s.stats["evicted"] == 0, s.stats  # it was not silent: it did not read
    assert list(s.clients) == [1] or not good.is_alive()
    assert not result.errors and result.meshes[1].sequence == len(small) and all(100 + i in result.meshes for i in range(10))
    latencies = np.array([arrivals[q] - sent[q] for q in arrivals if q in sent])
    print(f"\ngood client beside a reader that heartbeats but never reads: {len(latencies)} of {len(small)} revisions "
          f"(latest-only), p50 {1e3 * np.median(latencies):.1f} ms, p90 {1e3 * np.percentile(latencies, 90):.1f} ms, "
          f"max {1e3 * latencies.max():.1f} ms")
    assert np.median(latencies) < 0.5


# ---- bad frames after HELLO --------------------------------------------------------------------
def test_bad_frames_after_hello_get_bad_frame_errors_and_the_connection_stays(bridge_server):
    s = bridge_server(heartbeat_s=0.1, client_timeout_s=2.0)
    bad = [b"\x01\x02", bytes([42, 1, 0, 0]), "text", p.encode_welcome(1, 1), p.encode_removed(1, 1) + b"x"]

    async def scenario():
        ws = await hello(s)
        await frames_until(ws, lambda f: f.type == p.FrameType.SNAPSHOT_END)
        for frame in bad:
            await ws.send(frame)
        errors = await frames_until(ws, lambda f: f.type == p.FrameType.ERROR)
        assert await async_wait_until(lambda: s.stats["bad_frames"] == len(bad))
        for _ in range(3000):  # a flood without reading: the replies coalesce, memory stays bounded
            await ws.send(b"\x01\x02")
        assert await async_wait_until(lambda: s.stats["bad_frames"] == len(bad) + 3000)
        queued = max(len(c.control) for c in s.clients.values())
        s.publish(box_update(5))
        after = await frames_until(ws, lambda f: f.type == p.FrameType.MESH_UPDATE)
        await ws.close()
        return errors[-1], queued, after

    error, queued, after = asyncio.run(scenario())
    assert error.fields["code"] == p.ErrorCode.BAD_FRAME and "truncated" in error.fields["message"]
    assert queued <= 3  # at most one ERROR, one HEARTBEAT and a removal, never 3000 replies
    assert after[-1].fields["object_id"] == 5  # still connected and served
    assert sum(f.type == p.FrameType.ERROR for f in after) <= 3000 and s.stats["refused"] == 0


# ---- HTTP --------------------------------------------------------------------------------------
def test_long_http_path_gets_414_and_the_server_goes_on(bridge_server, caplog):
    s = bridge_server(serve_viewer=True)

    def get(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{s.port}{path}", timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    assert get("/" + "a" * 5000) == (414, b"request path too long\n")
    assert get("/" + "b" * 300)[0] == 404  # under the limit but too long for a file name: not found, not 500
    assert get("/")[0] == 200 and s.stats["paths_too_long"] == 1
    assert "Traceback" not in caplog.text and "opening handshake failed" not in caplog.text
    state = asyncio.run(run_client(url(s), duration_s=5, until=lambda st: st.snapshots))
    assert state.snapshots == 1
    with pytest.raises(Exception, match="414"):  # the WebSocket upgrade too, and without the viewer
        asyncio.run(run_client(f"ws://127.0.0.1:{bridge_server(serve_viewer=False).port}/" + "c" * 2000, duration_s=2))


# ---- clients survive bad frames from the server ------------------------------------------------
def test_python_client_skips_and_counts_bad_frames(bridge_server):
    s = bridge_server(heartbeat_s=0.1)
    state = ClientState()

    async def scenario():
        task = asyncio.create_task(run_client(url(s), duration_s=10, until=lambda st: 2 in st.meshes, state=state))
        assert await async_wait_until(lambda: state.snapshots == 1)
        inject(s, *bad_server_frames())
        s.publish(box_update(2))
        return await task

    result = asyncio.run(scenario())
    assert result.bad_frames == len(bad_server_frames()) and "binary" in result.last_bad_frame
    assert 2 in result.meshes and not result.closed and not result.errors and result.session == 1  # never reconnected


def test_stop_is_bounded_with_hostile_clients_connected(bridge_server):
    s = bridge_server(heartbeat_s=0.1)
    done = threading.Event()

    async def scenario():
        stop = asyncio.Event()
        _, beating = await stalled_reader(s, stop)
        assert await async_wait_until(lambda: len(s.clients) == 1)
        s.publish(box_update(1, vertices=200_000))
        start = time.monotonic()
        await asyncio.to_thread(s.stop)
        stop.set()
        await beating
        done.set()
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 3.0 and done.is_set() and not s.thread.is_alive()
