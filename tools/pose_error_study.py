"""What view-to-view pose error costs, and what the evidence fusion's pose tolerance buys back.

Sensor-true views (HoloLens 2 long-throw model, 3 mm / 0.5 deg of pose error per view), the same
views for every condition: the evidence path with each ``pose_tolerance_m``, the same views with
the poses they were rendered with (a perfectly tracked headset: what registering the views could
at best recover), and TSDF fusion of both. F@1% per object and the mean.

    python tools/pose_error_study.py [--split val|unseen|foreign] [--per-category 3] [--views 5]
                                     [--tolerances 0,0.01] [--only tsdf] [--json docs/eval/pose_error_study_val.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace

import numpy as np

from occnet_ros.complete.reconstruct import Reconstructor, load_reconstructor
from occnet_ros.evaluate.metrics import mesh_metrics
from occnet_ros.evaluate.run import MethodRunner, foreign_objects, procedural_objects
from occnet_ros.learn.records import RecordSpec, render_views
from occnet_ros.learn.sources import item_rng
from occnet_ros.shapes.catalog import CATEGORIES, FREEFORM

UNSEEN = ["bowl", "sofa"]  # held out of every training config (docs/benchmarks.md)
SEEN = [c for c in CATEGORIES if c not in UNSEEN] + [FREEFORM]


def split_objects(split: str, per_category: int):
    """The benchmark's objects of one split (docs/benchmarks.md)."""
    if split == "val":
        return procedural_objects(per_category, SEEN, "val")
    if split == "unseen":
        return procedural_objects(per_category, UNSEEN, "test")
    if split == "foreign":
        return itertools.islice(foreign_objects("test"), 6 * per_category)
    raise ValueError(f"unknown split {split!r}: val, unseen or foreign")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val")
    parser.add_argument("--per-category", type=int, default=3)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--tolerances", default="0,0.01", help="pose_tolerance_m values, comma separated")
    parser.add_argument("--only", help="run only the conditions whose name starts with this (e.g. tsdf)")
    parser.add_argument("--checkpoint")
    parser.add_argument("--json")
    args = parser.parse_args()
    spec = RecordSpec.from_dict({"noise": "hololens2_long_throw", "support": True})
    reconstructor = load_reconstructor(args.checkpoint, "cpu")
    tolerances = [float(t) for t in args.tolerances.split(",")]
    # name: (method, runner, whether the views get their true poses)
    conditions = {f"occnet, pose_tolerance {t * 1000:g} mm": ("occnet", MethodRunner(spec, replace_evidence(reconstructor, t)), False)
                  for t in tolerances}
    conditions["occnet, true poses"] = ("occnet", MethodRunner(spec, reconstructor), True)
    conditions["tsdf"] = ("tsdf", MethodRunner(spec), False)
    conditions["tsdf, true poses"] = ("tsdf", MethodRunner(spec), True)
    conditions = {k: v for k, v in conditions.items() if not args.only or k.startswith(args.only)}
    records = []
    for obj in split_objects(args.split, args.per_category):
        views = render_views(obj.mesh, item_rng(obj.name, 0), replace(spec, views=10), subsample=False)[: args.views]
        tracked = [v.with_true_pose() for v in views]
        row = {"object": obj.name}
        for name, (method, runner, true_poses) in conditions.items():
            mesh = runner(method, tracked if true_poses else views)
            row[name] = mesh_metrics(mesh, obj.mesh, seed=0, samples=100_000).fscore_1pct
        records.append(row)
        print(obj.name, {k: round(v, 3) for k, v in row.items() if k != "object"}, flush=True)
    means = {k: float(np.mean([r[k] for r in records])) for k in records[0] if k != "object"}
    print(f"{args.split}, {args.views} views, {len(records)} objects, mean F@1%:")
    for name, value in means.items():
        print(f"  {name:36s} {value:.3f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"split": args.split, "views": args.views, "objects": records, "mean_fscore_1pct": means}, out, indent=1)


def replace_evidence(reconstructor: Reconstructor, tolerance: float) -> Reconstructor:
    """A reconstructor that shares the loaded model, with another pose tolerance."""
    evidence = replace(reconstructor.evidence, pose_tolerance_m=tolerance)
    return Reconstructor(reconstructor.loaded, reconstructor.extraction, evidence=evidence, fusion=reconstructor.fusion)


if __name__ == "__main__":
    main()
