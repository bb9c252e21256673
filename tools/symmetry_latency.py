"""Side by side, alternating run by run: last view to published mesh (reconstruction + post-processing,
5 views, two threads) with a reconstruction before and as shipped, on test objects of four
categories (`occnet bench`'s runs are minutes apart, and this CPU drifts by tens of percent in
that time; the ratio is what carries over). ``--before no-symmetry``: fusion gain 6, no symmetry
(before 2026-12-07's mirror); ``--before mirror``: the mirror alone, its copies' TSDF averaged
with the views' (before revolution symmetry); ``--before mirror-grid``: the mirror plane as the
grid search leaves it (no ICP):

    python -P tools/symmetry_latency.py [--runs 5] [--before no-symmetry] [--json docs/eval/symmetry_latency.json]
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
    parser.add_argument("--before", choices=["no-symmetry", "mirror", "mirror-grid"], default="no-symmetry")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    reconstructor = load_reconstructor()
    fields = ("symmetry", "revolution", "fusion", "evidence")
    shipped = {name: getattr(reconstructor, name) for name in fields}
    before = dict(shipped, revolution=replace(reconstructor.revolution, enabled=False))
    if args.before == "no-symmetry":
        before.update(symmetry=replace(reconstructor.symmetry, enabled=False), fusion=replace(reconstructor.fusion, gain=6.0))
    elif args.before == "mirror":
        before.update(evidence=replace(reconstructor.evidence, copies_fill_only=False))
    else:
        before.update(symmetry=replace(reconstructor.symmetry, icp_iterations=0))
    spec = RecordSpec(views=5)
    rows = []
    for category in args.categories.split(","):
        rendered = render_views(make_shape_by_seed(category, 2_000_000), np.random.default_rng(0), spec, subsample=False)
        points, views = np.concatenate([v.points for v in rendered]), [v.depth_view(spec.intrinsics) for v in rendered]
        times: dict[str, list[float]] = {"before": [], "shipped": []}
        used = ""
        for _ in range(args.runs):
            for name, settings in (("before", before), ("shipped", shipped)):
                for field in fields:
                    setattr(reconstructor, field, settings[field])
                start = time.perf_counter()
                result = reconstructor.reconstruct(points, views)
                postprocess(result.mesh, seen=points)
                times[name].append(time.perf_counter() - start)
                used = result.symmetry if name == "shipped" else used
        row = {"object": f"{category}-2000000", "before_s": statistics.median(times["before"]),
               "shipped_s": statistics.median(times["shipped"]), "symmetry": used or "none", "runs": args.runs,
               "before": args.before}
        row["ratio"] = row["shipped_s"] / row["before_s"]
        rows.append(row)
        print(f"{row['object']}: before {row['before_s']:.3f} s, shipped {row['shipped_s']:.3f} s, "
              f"ratio {row['ratio']:.2f}, symmetry {row['symmetry']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
