"""Side by side, alternating run by run: last view to published mesh (reconstruction + post-processing,
5 views, two threads) with the reconstruction before mirror symmetry (fusion gain 6, no symmetry)
and as shipped, on test objects of four categories (`occnet bench`'s runs are minutes apart, and
this CPU drifts by tens of percent in that time; the ratio is what carries over):

    python -P tools/symmetry_latency.py [--runs 5] [--json docs/eval/symmetry_latency.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from occnet_ros.complete.postprocess import postprocess
from occnet_ros.complete.reconstruct import load_reconstructor
from occnet_ros.learn.records import RecordSpec, render_views
from occnet_ros.shapes.catalog import make_shape_by_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--categories", default="chair,table,sofa,bowl")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    reconstructor = load_reconstructor()
    shipped = {"symmetry": reconstructor.symmetry, "fusion": reconstructor.fusion}
    before = {"symmetry": replace(reconstructor.symmetry, enabled=False), "fusion": replace(reconstructor.fusion, gain=6.0)}
    spec = RecordSpec(views=5)
    rows = []
    for category in args.categories.split(","):
        rendered = render_views(make_shape_by_seed(category, 2_000_000), np.random.default_rng(0), spec, subsample=False)
        points, views = np.concatenate([v.points for v in rendered]), [v.depth_view(spec.intrinsics) for v in rendered]
        times: dict[str, list[float]] = {"before": [], "shipped": []}
        mirrored = 0
        for _ in range(args.runs):
            for name, settings in (("before", before), ("shipped", shipped)):
                reconstructor.symmetry, reconstructor.fusion = settings["symmetry"], settings["fusion"]
                start = time.perf_counter()
                result = reconstructor.reconstruct(points, views)
                postprocess(result.mesh)
                times[name].append(time.perf_counter() - start)
                mirrored = max(mirrored, result.mirrored_points) if name == "shipped" else mirrored
        row = {"object": f"{category}-2000000", "before_s": statistics.median(times["before"]),
               "shipped_s": statistics.median(times["shipped"]), "mirrored": mirrored > 0, "runs": args.runs}
        row["ratio"] = row["shipped_s"] / row["before_s"]
        rows.append(row)
        print(f"{row['object']}: before {row['before_s']:.3f} s, shipped {row['shipped_s']:.3f} s, "
              f"ratio {row['ratio']:.2f}, mirrored {row['mirrored']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
