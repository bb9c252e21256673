"""Load figures of the observation node (issue 19): flood it with the two-object scene at 30 and
100 Hz for a bounded time (loopback, one process) and write docs/eval/load_bench.json, which
tools/benchmarks_md.py renders as the "Load" section of docs/benchmarks.md.

Run with the built package sourced (as `make test` does):
python -P tools/load_bench.py [--seconds 10]"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "test"), str(REPO / "test" / "ros")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="30,100")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "eval" / "load_bench.json")
    args = parser.parse_args()
    from test_hostile_nodes import flood  # the soak test's flood: one definition of the measurement

    runs = []
    for rate in [float(r) for r in args.rates.split(",")]:
        load, rss, times, counts = flood(rate, args.seconds)
        runs.append({"rate_hz": rate, "seconds": args.seconds, **load, "publish_rate_hz": load["published"] / args.seconds,
                     "frame_ms_median": float(np.median(times) * 1000), "frame_ms_p90": float(np.percentile(times, 90) * 1000),
                     "rss_mb_start": rss[0], "rss_mb_max": max(rss), "counts": counts})
        print(json.dumps(runs[-1]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.machine(), "runs": runs}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
