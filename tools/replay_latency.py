"""End-to-end latency a user sees (issue 16): a simulator recording replayed through
`ros2 launch occnet_ros reconstruct.launch.py bag:=...` (replay, observation, reconstruction and
the Unity bridge each in its own process; nothing else running), measured by a probe node in
this process.

Per published mesh: last view -> mesh = arrival of the ReconstructedObject minus arrival of the
depth frame whose stamp it carries (the newest view the mesh used), both seen by the probe; beside
it the reconstruction node's own StageTimings (total_s = request -> message, incl. queueing).
Writes docs/eval/replay_latency.json, which tools/benchmarks_md.py renders in docs/benchmarks.md.

Run with the built package sourced (as `make test` does):
python -P tools/replay_latency.py [--frames 40] [--objects 4] [--rate 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def record(bag: Path, frames: int, objects: int, seed: int) -> None:
    subprocess.run(["occnet", "record", str(bag), "--frames", str(frames), "--objects", str(objects), "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL)


class Probe:
    """Arrival times (this process's perf_counter) of depth frames by stamp and of meshes."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        from occnet_ros.msg import ReconstructedObject

        rclpy.init()
        self.node = rclpy.create_node("latency_probe")
        self.depth_arrival: dict[int, float] = {}
        self.meshes: list[dict] = []
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Image, "depth/image", self.on_depth, reliable)
        self.node.create_subscription(ReconstructedObject, "objects", self.on_object, reliable)
        self.executor = rclpy.executors.SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    @staticmethod
    def stamp_ns(stamp) -> int:
        return stamp.sec * 10**9 + stamp.nanosec

    def on_depth(self, msg) -> None:
        self.depth_arrival[self.stamp_ns(msg.header.stamp)] = time.perf_counter()

    def on_object(self, msg) -> None:
        if msg.status != msg.STATUS_RECONSTRUCTED:
            return
        t = msg.timings
        self.meshes.append({"arrival": time.perf_counter(), "stamp": self.stamp_ns(msg.header.stamp), "id": msg.id,
                            "class": msg.class_name, "revision": msg.revision, "views": msg.views_used,
                            "encode_s": t.encode_s, "extract_s": t.extract_s, "postprocess_s": t.postprocess_s,
                            "total_s": t.total_s})

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown()


def run_launch(bag: Path, rate: float, settle_s: float, timeout_s: float, probe: Probe, log: Path) -> None:
    command = ["ros2", "launch", "occnet_ros", "reconstruct.launch.py", f"bag:={bag}", f"bag_rate:={rate}", "use_bridge:=true"]
    with log.open("w") as out:
        launch = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        start = time.perf_counter()
        try:
            while time.perf_counter() - start < timeout_s and launch.poll() is None:
                time.sleep(0.5)
                last = max([m["arrival"] for m in probe.meshes] + list(probe.depth_arrival.values()) or [start])
                replay_done = len(probe.depth_arrival) > 0 and time.perf_counter() - max(probe.depth_arrival.values()) > 2.0
                if replay_done and time.perf_counter() - last > settle_s:
                    break
        finally:
            os.killpg(launch.pid, signal.SIGINT)
            try:
                launch.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(launch.pid, signal.SIGKILL)


def summarise(probe: Probe) -> dict:
    rows = []
    for mesh in probe.meshes:
        seen = probe.depth_arrival.get(mesh["stamp"])
        if seen is not None:
            rows.append({**mesh, "last_view_to_mesh_s": mesh["arrival"] - seen})

    def stats(key: str) -> dict:
        values = np.array([r[key] for r in rows])
        return {"median": float(np.median(values)), "p90": float(np.percentile(values, 90)), "max": float(values.max())} if len(values) else {}

    return {"meshes": len(probe.meshes), "meshes_matched": len(rows), "frames_seen": len(probe.depth_arrival),
            "objects_seen": len({r["id"] for r in rows}),
            **{key: stats(key) for key in ("last_view_to_mesh_s", "total_s", "encode_s", "extract_s", "postprocess_s")},
            "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "arrival"} for r in rows]}


def main() -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # run in the background: let the launch see our SIGINT
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--objects", type=int, default=4)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0, help="bag playback speed")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds without a new mesh after the replay ends")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "eval" / "replay_latency.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bag = Path(tmp) / "sim.bag"
        record(bag, args.frames, args.objects, args.seed)
        probe = Probe()
        try:
            run_launch(bag, args.rate, args.settle, args.timeout, probe, Path(tmp) / "launch.log")
        finally:
            probe.close()
        summary = summarise(probe)
        if not summary["meshes_matched"]:
            print((Path(tmp) / "launch.log").read_text()[-4000:])
            raise SystemExit("no mesh matched a replayed depth frame")
    result = {"machine": platform.machine(), "cpus": os.cpu_count(), "frames": args.frames, "objects": args.objects,
              "seed": args.seed, "rate": args.rate, "processes": ["replay", "observation", "reconstruction", "unity_bridge"],
              **summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
