"""`occnet eval`: every method on exactly the same simulated views, against ground truth.

Per object: render the views once (HoloLens 2 long-throw camera; the runner's sensor model, by default ToF noise),
then for each view count and method reconstruct, time it, and measure Chamfer-L1, F@1%,
F@2% and IoU in the ground truth's unit box. Records are JSON-stable (see JSON_KEYS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from occnet_ros.evaluate import baselines
from occnet_ros.evaluate.metrics import mesh_metrics, split_fscores, unit_box_transform
from occnet_ros.learn.records import RecordSpec, View, render_views
from occnet_ros.learn.sources import MESH_SUFFIXES, item_rng, load_mesh

log = logging.getLogger(__name__)
METHODS = ("occnet", "occnet_prior", "tsdf", "poisson", "hull")  # occnet: the views' evidence fused; occnet_prior: points only
JSON_KEYS = ("object", "method", "views", "chamfer_l1", "fscore_1pct", "fscore_2pct", "iou", "time_s",
             "fscore_1pct_observed", "fscore_1pct_unobserved")


@dataclass
class EvalObject:
    name: str
    mesh: trimesh.Trimesh


def procedural_objects(per_category: int = 2, categories: list[str] | None = None, split: str = "test") -> Iterator[EvalObject]:
    """Procedural shapes of a held-out split (seeds disjoint from training), one of each
    category in turn (so the first few objects, which reports picture, span the categories)."""
    from occnet_ros.shapes.catalog import CATEGORIES, SPLIT_SEEDS, make_shape

    offset = SPLIT_SEEDS[split]
    for index in range(per_category):
        for category in categories or CATEGORIES:
            seed = offset + index
            yield EvalObject(f"{category}-{seed}", make_shape(category, np.random.default_rng(seed)))


def foreign_objects(split: str = "test", wheel: Path | None = None, size_range_m: tuple[float, float] = (0.08, 0.5)) -> Iterator[EvalObject]:
    """Shapes the generator did not make: the pybullet wheel's random objects of a split
    (test = indices 950-999, never trained on), each at a real size drawn from its name."""
    from occnet_ros.learn.packaged import SPLIT_OF_INDEX, download_wheel, load_wheel_mesh, wheel_meshes

    wheel = wheel or download_wheel(Path("data/wheels"))
    for index, member in sorted(wheel_meshes(wheel).items()):
        if index not in SPLIT_OF_INDEX[split]:
            continue
        name = f"pybullet-{index:03d}"
        try:
            yield EvalObject(name, load_wheel_mesh(wheel, member, float(item_rng(name, 0).uniform(*size_range_m))))
        except ValueError as error:
            log.warning("skipping ground truth %s", error)


def furniture_objects(split: str = "test", catalogs: Path | None = None) -> Iterator[EvalObject]:
    """Indoor furniture models of a split at their catalogue size (learn/furniture.py; the test
    split, about 10% of the models by id, is never trained on); broken ones are logged and skipped."""
    from occnet_ros.learn.furniture import fetch_package, furniture_entries, load_furniture

    entries, _ = furniture_entries(catalogs or fetch_package(), split)
    for entry in entries:
        try:
            yield EvalObject(entry.item_name, load_furniture(entry))
        except ValueError as error:
            log.warning("skipping ground truth %s", error)


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
            "occnet_prior": lambda v: self._occnet(v, evidence=False),
            "tsdf": lambda v: baselines.tsdf_fusion(v, self.spec.intrinsics),
            "poisson": baselines.poisson,
            "hull": baselines.convex_hull,
        }
        if method not in runners:
            raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
        return runners[method](views)

    def _occnet(self, views: list[View], evidence: bool = True) -> trimesh.Trimesh:
        from occnet_ros.complete.postprocess import PostprocessSettings, postprocess

        if self.reconstructor is None:
            raise ValueError("method occnet needs a checkpoint")
        depth_views = [v.depth_view(self.spec.intrinsics) for v in views] if evidence else None
        points = np.concatenate([v.points for v in views])
        mesh = self.reconstructor.reconstruct(points, depth_views).mesh
        return postprocess(mesh, PostprocessSettings(max_triangles=self.max_triangles), seen=points).mesh


def evaluate_object(
    obj: EvalObject, view_counts: list[int], methods: list[str], runner: MethodRunner, seed: int, samples: int = 100_000
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Records for every (views, method) of one object, and its meshes for pictures."""
    views = render_views(obj.mesh, item_rng(obj.name, seed), replace(runner.spec, views=max(view_counts)), subsample=False)
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
                observed, unobserved = split_fscores(mesh, obj.mesh, points, seed=seed, samples=samples)
                record["fscore_1pct_observed"], record["fscore_1pct_unobserved"] = observed, unobserved
                meshes["outputs"][(count, method)] = mesh
            except Exception as error:  # one failing method must not end the evaluation
                log.warning("%s %s %d views failed: %s", obj.name, method, count, error)
                record.update({"time_s": time.perf_counter() - start, "chamfer_l1": None, "fscore_1pct": None,
                               "fscore_2pct": None, "iou": None, "fscore_1pct_observed": None,
                               "fscore_1pct_unobserved": None, "error": str(error)})
            records.append(record)
    return records, meshes


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
