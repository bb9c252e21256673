"""The observation frame's cost before and after a change, side by side (issue 19: at most 10 ms for
a 320x288 long-throw frame with 5 instances). `occnet bench`'s own measurement
(occnet_ros/evaluate/bench.py: observation_frame, raw buffers to views stored, one thread) runs in
one worker process per source tree, in interleaved rounds, so both see the same machine load; wall
and CPU time per frame. Writes docs/eval/observation_frame.json, which tools/benchmarks_md.py
renders in docs/benchmarks.md. The trees need no build (the frame path is pure Python + numpy).

python -P tools/frame_bench.py --before-rev main [--rounds 10 --frames 10]"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from occnet_ros.evaluate.bench import observation_frame, synthetic_depth_frame
from occnet_ros.geometry.camera import HL2_AHAT, HL2_LONG_THROW
import occnet_ros.observe.frame
assert occnet_ros.observe.frame.__file__.startswith(sys.argv[1]), occnet_ros.observe.frame.__file__
rng = np.random.default_rng(0)
synthetic_depth_frame(HL2_LONG_THROW, rng), synthetic_depth_frame(HL2_AHAT, rng)  # run_bench's draws before these frames
frames = {"long_throw_320x288": observation_frame(HL2_LONG_THROW, rng), "ahat_512x512": observation_frame(HL2_AHAT, rng)}
for line in sys.stdin:
    out = {}
    for name, frame in frames.items():
        frame()
        wall, cpu = [], []
        for _ in range(int(line)):
            w, c = time.perf_counter(), time.process_time()
            frame()
            wall.append(time.perf_counter() - w)
            cpu.append(time.process_time() - c)
        out[name] = [wall, cpu]
    print(json.dumps(out), flush=True)
"""


def tree_of(rev: str, into: Path) -> Path:
    """The package source of a git revision, unpacked under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", rev, "occnet_ros"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def revision(rev: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True, capture_output=True, text=True).stdout.strip()


def measure(trees: dict[str, Path], rounds: int, frames: int) -> dict[str, dict[str, dict[str, list[float]]]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # each worker imports its own tree only
    workers = {label: subprocess.Popen([sys.executable, "-P", "-c", WORKER, str(tree)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True, env=env) for label, tree in trees.items()}
    times: dict[str, dict[str, dict[str, list[float]]]] = {label: {} for label in trees}
    try:
        for _ in range(rounds):
            for label, worker in workers.items():
                worker.stdin.write(f"{frames}\n")
                worker.stdin.flush()
                for name, (wall, cpu) in json.loads(worker.stdout.readline()).items():
                    entry = times[label].setdefault(name, {"wall": [], "cpu": []})
                    entry["wall"] += wall
                    entry["cpu"] += cpu
    finally:
        for worker in workers.values():
            worker.stdin.close()
            worker.wait()
    return times


def summary(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-rev", required=True, help="git revision measured as 'before'")
    parser.add_argument("--after-rev", default="", help="git revision measured as 'after' (default: this working tree)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--frames", type=int, default=10, help="frames per tree, record and round")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "eval" / "observation_frame.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": tree_of(args.before_rev, Path(tmp) / "before"),
                 "after": tree_of(args.after_rev, Path(tmp) / "after") if args.after_rev else REPO}
        load_start = os.getloadavg()
        times = measure(trees, args.rounds, args.frames)
        load_end = os.getloadavg()
    records = []
    for name in times["before"]:
        row = {"name": f"observation_frame_{name}_5_instances", "frames": len(times["after"][name]["wall"])}
        for label in ("before", "after"):
            for kind in ("wall", "cpu"):
                row[f"{label}_{kind}"] = summary(times[label][name][kind])
        row["speedup_wall"] = row["before_wall"]["median_ms"] / row["after_wall"]["median_ms"]
        records.append(row)
        print(json.dumps(row))
    result = {"before": revision(args.before_rev), "after": revision(args.after_rev) if args.after_rev else "working tree",
              "rounds": args.rounds, "frames_per_round": args.frames, "cpus": os.cpu_count(), "machine": platform.machine(),
              "load_average_1min": [round(load_start[0], 2), round(load_end[0], 2)], "records": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
