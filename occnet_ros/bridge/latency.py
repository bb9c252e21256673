"""Publish-to-client latency of the bridge on loopback, with N clients (for `occnet bench`)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import trimesh
from websockets.asyncio.client import connect

from occnet_ros.bridge import protocol as p
from occnet_ros.bridge.server import BridgeServer, BridgeSettings


def mesh_update(sequence: int, triangles: int = 5000) -> p.MeshUpdate:
    sphere = trimesh.creation.icosphere(subdivisions=5)  # 20480 faces, decimated by slicing
    faces = sphere.faces[:triangles]
    return p.MeshUpdate.from_ros(1, sequence, "bench", [1, 0, 0.5], [0, 0, 0, 1], [1, 1, 1], sphere.vertices, faces)


async def _client(port: int, arrivals: dict[int, float], expected: int, ready: threading.Event, count: list[int]) -> None:
    async with connect(f"ws://127.0.0.1:{port}", max_size=None, compression=None) as ws:
        await ws.send(p.encode_hello())
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        while len(arrivals) < expected:
            raw = await ws.recv()
            if raw[0] == p.FrameType.MESH_UPDATE:
                arrivals[int.from_bytes(raw[8:12], "little")] = time.perf_counter()
            elif raw[0] == p.FrameType.HEARTBEAT:
                await ws.send(p.encode_heartbeat(time.time()))


def measure_latency(clients: int = 1, messages: int = 40, period_s: float = 0.05, triangles: int = 5000) -> list[float]:
    """Seconds from BridgeServer.publish to arrival at each client, for every message and client."""
    server = BridgeServer(BridgeSettings(port=0, max_frame_bytes=50_000_000, max_clients=clients))
    port = server.start()
    arrivals = [dict() for _ in range(clients)]
    ready = threading.Event()
    count = [0, clients]

    def run_clients() -> None:
        async def all_clients():
            await asyncio.gather(*[_client(port, a, messages, ready, count) for a in arrivals])

        asyncio.run(all_clients())

    thread = threading.Thread(target=run_clients, daemon=True)
    thread.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("bench clients did not connect")
        time.sleep(0.2)
        updates = [mesh_update(seq, triangles) for seq in range(1, messages + 1)]
        sent = {}
        for update in updates:
            sent[update.sequence] = time.perf_counter()
            server.publish(update)
            time.sleep(period_s)
        thread.join(timeout=30)
    finally:
        server.stop()
    return [a[seq] - sent[seq] for a in arrivals for seq in sent if seq in a]


def latency_record(clients: int, runs_scale: int = 40) -> dict:
    latencies = np.array(measure_latency(clients, messages=runs_scale))
    return {"name": f"bridge_publish_to_client_{clients}_clients_5000_triangles", "median_s": float(np.median(latencies)),
            "p90_s": float(np.percentile(latencies, 90)), "p99_s": float(np.percentile(latencies, 99)), "runs": int(latencies.size)}
