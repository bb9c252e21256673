"""Hostile and unlucky input to the bridge server, protocol and client (issue 19; no ROS): every
case gives a clear error or a counted skip, and the server and the clients live on. Loopback only,
port 0, deadlines. The node's side is in test/ros/test_unity_bridge_node.py."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from bridge_helpers import async_wait_until, bad_server_frames, box_update, frames_until, hello, inject, stalled_reader, url, wait_until
from websockets.exceptions import ConnectionClosed

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.client import ClientState, run_client, save_obj
from occnet_ros.bridge.server import BridgeServer, BridgeSettings


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
    delays = [s.tokens.record_failure("10.0.0.1") for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    for i in range(5000):
        s.tokens.record_failure(f"10.1.{i // 256}.{i % 256}")
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
