"""Post-processing with and without keeping the small components the views saw
(PostprocessSettings.keep_seen_components), side by side on the same reconstructed mesh,
alternating run by run, on test objects of four categories (the ratio carries over; this CPU
drifts by tens of percent between `occnet bench` runs):

    python -P tools/seen_components_latency.py [--runs 3] [--json docs/eval/seen_components_latency.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from occnet_ros.complete.postprocess import PostprocessSettings, postprocess
from occnet_ros.complete.reconstruct import load_reconstructor
from occnet_ros.learn.records import RecordSpec, render_views
from occnet_ros.shapes.catalog import make_shape_by_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="models/conv_onet_furniture_long.pt")
    parser.add_argument("--categories", default="chair,mug,shelf,sofa")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    reconstructor = load_reconstructor(args.checkpoint, "cpu")
    spec = RecordSpec(views=5)
    variants = {"dropped": PostprocessSettings(keep_seen_components=False), "kept": PostprocessSettings()}
    rows = []
    for category in args.categories.split(","):
        rendered = render_views(make_shape_by_seed(category, 2_000_000), np.random.default_rng(0), spec, subsample=False)
        points = np.concatenate([v.points for v in rendered])
        mesh = reconstructor.reconstruct(points, [v.depth_view(spec.intrinsics) for v in rendered]).mesh
        times: dict[str, list[float]] = {name: [] for name in variants}
        removed = {}
        for _ in range(args.runs):
            for name, settings in variants.items():
                start = time.perf_counter()
                removed[name] = postprocess(mesh, settings, seen=points).removed_components
                times[name].append(time.perf_counter() - start)
        row = {"object": f"{category}-2000000", **{f"{name}_s": statistics.median(t) for name, t in times.items()},
               **{f"{name}_removed_components": count for name, count in removed.items()}}
        row["ratio"] = row["kept_s"] / row["dropped_s"]
        rows.append(row)
        print(row, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"threads": 1, "runs": args.runs, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
