"""`occnet eval`: every method on exactly the same simulated views, against ground truth.

Per object: render the views once (HoloLens 2 long-throw model, ToF noise, same as training),
then for each view count and method reconstruct, time it, and measure Chamfer-L1, F@1%,
F@2% and IoU in the ground truth's unit box. Records are JSON-stable (see JSON_KEYS).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from occnet_ros.core import baselines
from occnet_ros.core.data.records import RecordSpec, View, render_views
from occnet_ros.core.data.sources import MESH_SUFFIXES, item_rng, load_mesh
from occnet_ros.core.metrics import mesh_metrics, unit_box_transform

log = logging.getLogger(__name__)
METHODS = ("occnet", "tsdf", "poisson", "hull")
JSON_KEYS = ("object", "method", "views", "chamfer_l1", "fscore_1pct", "fscore_2pct", "iou", "time_s")


@dataclass
class EvalObject:
    name: str
    mesh: trimesh.Trimesh


def procedural_objects(per_category: int = 2, categories: list[str] | None = None, split: str = "test") -> Iterator[EvalObject]:
    """Procedural shapes of a held-out split (seeds disjoint from training), one of each
    category in turn (so the first few objects, which reports picture, span the categories)."""
    from occnet_ros.core.data.procedural import CATEGORIES, SPLIT_SEEDS, make_shape

    offset = SPLIT_SEEDS[split]
    for index in range(per_category):
        for category in categories or CATEGORIES:
            seed = offset + index
            yield EvalObject(f"{category}-{seed}", make_shape(category, np.random.default_rng(seed)))


def folder_objects(folder: Path, up: str = "z") -> Iterator[EvalObject]:
    """Meshes of a folder; unreadable or non-watertight ones are logged and skipped."""
    if not folder.is_dir():
        raise FileNotFoundError(f"mesh folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MESH_SUFFIXES)
    if not paths:
        raise ValueError(f"{folder} holds no meshes ({', '.join(MESH_SUFFIXES)})")
    for path in paths:
        try:
            yield EvalObject(path.stem, load_mesh(path, up))
        except ValueError as error:
            log.warning("skipping ground truth %s", error)
            print(f"skipped {path.name}: {error}")


def observed_fidelity(mesh: trimesh.Trimesh, points: np.ndarray, gt: trimesh.Trimesh, tau: float = 0.01) -> float:
    """Fraction of input points within tau (of the GT's unit box) of the output surface."""
    scale = unit_box_transform(gt)[0, 0]
    surface = trimesh.sample.sample_surface(mesh, 50_000, seed=0)[0]
    distance = cKDTree(surface).query(points, workers=1)[0] * scale
    return float((distance < tau).mean())


class MethodRunner:
    """Runs one method on a set of views; the occnet method needs a Reconstructor."""

    def __init__(self, spec: RecordSpec, reconstructor=None, max_triangles: int = 5000) -> None:
        self.spec = spec
        self.reconstructor = reconstructor
        self.max_triangles = max_triangles

    def __call__(self, method: str, views: list[View]) -> trimesh.Trimesh:
        runners: dict[str, Callable[[list[View]], trimesh.Trimesh]] = {
            "occnet": self._occnet,
            "tsdf": lambda v: baselines.tsdf_fusion(v, self.spec.intrinsics),
            "poisson": baselines.poisson,
            "hull": baselines.convex_hull,
        }
        if method not in runners:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        return runners[method](views)

    def _occnet(self, views: list[View]) -> trimesh.Trimesh:
        from occnet_ros.core.postprocess import PostprocessSettings, postprocess

        if self.reconstructor is None:
            raise ValueError("method occnet needs a checkpoint")
        mesh = self.reconstructor.reconstruct(np.concatenate([v.points for v in views])).mesh
        return postprocess(mesh, PostprocessSettings(max_triangles=self.max_triangles)).mesh


def evaluate_object(
    obj: EvalObject, view_counts: list[int], methods: list[str], runner: MethodRunner, seed: int, samples: int = 100_000
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records for every (views, method) of one object, and its meshes for pictures."""
    views = render_views(obj.mesh, item_rng(obj.name, seed), RecordSpec(views=max(view_counts)), subsample=False)
    records, meshes = [], {"gt": obj.mesh, "inputs": {}, "outputs": {}}
    for count in view_counts:
        used = views[:count]
        points = np.concatenate([v.points for v in used])
        meshes["inputs"][count] = points
        for method in methods:
            record: dict[str, Any] = {"object": obj.name, "method": method, "views": len(used), "input_points": len(points)}
            start = time.perf_counter()
            try:
                mesh = runner(method, used)
                record["time_s"] = time.perf_counter() - start
                metrics = mesh_metrics(mesh, obj.mesh, seed=seed, samples=samples)
                record.update(metrics.as_dict())
                record["watertight"] = bool(mesh.is_watertight)
                record["triangles"] = len(mesh.faces)
                record["input_fidelity"] = observed_fidelity(mesh, points, obj.mesh)
                meshes["outputs"][(count, method)] = mesh
            except Exception as error:  # one failing method must not end the evaluation
                log.warning("%s %s %d views failed: %s", obj.name, method, count, error)
                record.update({"time_s": time.perf_counter() - start, "chamfer_l1": None, "fscore_1pct": None,
                               "fscore_2pct": None, "iou": None, "error": str(error)})
            records.append(record)
    return records, meshes


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of each metric per (method, views), over objects where it applies."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["method"], r["views"])].append(r)
    rows = []
    for (method, views), group in sorted(groups.items(), key=lambda kv: (kv[0][1], METHODS.index(kv[0][0]) if kv[0][0] in METHODS else 99)):
        row: dict[str, Any] = {"method": method, "views": views, "objects": len(group)}
        for key in ("chamfer_l1", "fscore_1pct", "fscore_2pct", "iou", "time_s", "input_fidelity"):
            values = [r[key] for r in group if r.get(key) is not None]
            row[key] = float(np.mean(values)) if values else None
            if key == "iou":
                row["iou_objects"] = len(values)
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of summarize() rows."""
    def cell(value: Any, digits: int = 3) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = [
        "| views | method | objects | CD-L1 (lower better) | F@1% | F@2% | IoU (watertight only) | input fidelity | time/object (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        iou = cell(r["iou"]) + ("" if r["iou_objects"] == r["objects"] else f" ({r['iou_objects']}/{r['objects']})")
        lines.append(
            f"| {r['views']} | {r['method']} | {r['objects']} | {cell(r['chamfer_l1'], 4)} | {cell(r['fscore_1pct'])} | "
            f"{cell(r['fscore_2pct'])} | {iou} | {cell(r['input_fidelity'])} | {cell(r['time_s'], 2)} |"
        )
    return "\n".join(lines)


def run_eval(
    objects: Iterator[EvalObject], view_counts: list[int], methods: list[str], runner: MethodRunner,
    seed: int = 0, limit: int | None = None, keep_meshes: int = 0, samples: int = 100_000,
) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
    """All records, and the meshes of the first ``keep_meshes`` objects (for the report)."""
    records, kept = [], []
    for index, obj in enumerate(objects):
        if limit is not None and index >= limit:
            break
        object_records, meshes = evaluate_object(obj, view_counts, methods, runner, seed, samples)
        records += object_records
        if len(kept) < keep_meshes:
            kept.append((obj.name, meshes))
        best = {r["method"]: r.get("fscore_1pct") for r in object_records if r["views"] == view_counts[-1]}
        print(f"{obj.name}: F@1% at {view_counts[-1]} views " + ", ".join(
            f"{m}={'n/a' if f is None else f'{f:.3f}'}" for m, f in best.items()), flush=True)
    if not records:
        raise ValueError("no object could be evaluated")
    return records, kept


def run_eval_command(args) -> int:
    """`occnet eval` entry point."""
    view_counts = sorted({int(v) for v in str(args.views).split(",")})
    if not view_counts or view_counts[0] < 1 or view_counts[-1] > 10:
        raise ValueError("--views takes numbers between 1 and 10, e.g. 5 or 1,3,5,10")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    reconstructor = None
    if "occnet" in methods:
        from occnet_ros.cli import _load_reconstructor

        reconstructor = _load_reconstructor(args)
    categories = [c.strip() for c in args.categories.split(",")] if args.categories else None
    objects = folder_objects(args.meshes, args.up) if args.meshes else procedural_objects(args.per_category, categories, args.split)
    runner = MethodRunner(RecordSpec(), reconstructor)
    records, kept = run_eval(objects, view_counts, methods, runner, args.seed, args.limit,
                             keep_meshes=4 if args.report else 0, samples=args.surface_samples)
    rows = summarize(records)
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=1))
    if args.report:
        from occnet_ros.core.report import write_report

        write_report(args.report, rows, records, kept, view_counts, vars(args))
        print(f"report: {args.report / 'report.md'}")
    return 0
