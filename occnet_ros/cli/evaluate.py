"""`occnet eval` and `occnet bench`."""

from __future__ import annotations

import argparse
import json


def cmd_eval(args: argparse.Namespace) -> int:
    """`occnet eval` entry point."""
    from occnet_ros.evaluate.run import METHODS, MethodRunner, folder_objects, foreign_objects, furniture_objects, procedural_objects, run_eval
    from occnet_ros.evaluate.summary import format_table, summarize
    from occnet_ros.learn.records import RecordSpec

    view_counts = sorted({int(v) for v in str(args.views).split(",")})
    if not view_counts or view_counts[0] < 1 or view_counts[-1] > 10:
        raise ValueError("--views takes numbers between 1 and 10, e.g. 5 or 1,3,5,10")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    reconstructor = None
    if {"occnet", "occnet_prior"} & set(methods):
        from occnet_ros.cli.reconstruct import reconstructor_from_args

        reconstructor = reconstructor_from_args(args)
    categories = [c.strip() for c in args.categories.split(",")] if args.categories else None
    if args.meshes:
        objects = folder_objects(args.meshes, args.up)
    elif args.foreign == "furniture":
        objects = furniture_objects(args.split)
    elif args.foreign:
        objects = foreign_objects(args.split)
    else:
        objects = procedural_objects(args.per_category, categories, args.split)
    spec = RecordSpec() if args.sensor == "basic" else RecordSpec.from_dict({"noise": args.sensor, "support": True})
    runner = MethodRunner(spec, reconstructor)
    records, kept = run_eval(objects, view_counts, methods, runner, args.seed, args.limit,
                             keep_meshes=4 if args.report else 0, samples=args.surface_samples)
    rows = summarize(records)
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=1))
    if args.report:
        from occnet_ros.evaluate.report import write_report

        write_report(args.report, rows, records, kept, view_counts, vars(args))
        print(f"report: {args.report / 'report.md'}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """`occnet bench` entry point."""
    from dataclasses import replace

    import numpy as np

    from occnet_ros.bridge.latency import latency_record
    from occnet_ros.cli.reconstruct import reconstructor_from_args
    from occnet_ros.evaluate.bench import LATENCY_CATEGORIES, machine, object_latency_records, run_bench
    from occnet_ros.evaluate.run import procedural_objects
    from occnet_ros.learn.records import RecordSpec, render_views
    from occnet_ros.learn.sources import item_rng

    reconstructor = reconstructor_from_args(args)
    obj = next(procedural_objects(1, ["chair"]))
    spec = RecordSpec(views=10)
    views = render_views(obj.mesh, item_rng(obj.name, 0), spec, subsample=False)

    def extra() -> list[dict]:
        scenes = []
        for other in procedural_objects(1, LATENCY_CATEGORIES):  # one test object of every category, 5 views
            rendered = render_views(other.mesh, item_rng(other.name, 0), replace(spec, views=5), subsample=False)
            scenes.append((other.name, np.concatenate([v.points for v in rendered]), [v.depth_view(spec.intrinsics) for v in rendered]))
        return object_latency_records(reconstructor, scenes, args.runs) + [latency_record(clients) for clients in (1, 10)]

    records = run_bench(reconstructor, np.concatenate([v.points for v in views[:5]]), args.runs, extra=extra,
                        views=[v.depth_view(spec.intrinsics) for v in views])
    info = machine()
    print(f"machine: {info}")
    print(f"{'name':36s} {'median_s':>9s} {'p90_s':>9s} {'ratio':>7s} {'points':>9s} {'IoU vs dense':>12s}")
    for r in records:
        print(f"{r['name']:36s} {r['median_s']:9.4f} {r['p90_s']:9.4f} {r['ratio_to_dense128']:7.3f} "
              f"{r.get('evaluated_points', ''):>9} {r.get('iou_vs_dense128', ''):>12}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{**r, "machine": info} for r in records], indent=1))
    return 0
