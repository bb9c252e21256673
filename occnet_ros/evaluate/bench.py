"""`occnet bench`: stage timings, each as a ratio to the dense 128^3 path of the same run."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from occnet_ros.complete.extract import ExtractionSettings, extract_mesh
from occnet_ros.complete.postprocess import postprocess
from occnet_ros.geometry.camera import HL2_AHAT, HL2_LONG_THROW, Intrinsics, backproject, decode_depth
from occnet_ros.shapes.catalog import CATEGORIES


def time_runs(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    """Wall times of ``runs`` calls (after one warm-up call) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def record(name: str, times: list[float], **extra: Any) -> dict[str, Any]:
    return {"name": name, "median_s": float(np.median(times)), "p90_s": float(np.percentile(times, 90)), "runs": len(times), **extra}


def synthetic_depth_frame(intrinsics: Intrinsics, rng: np.random.Generator) -> np.ndarray:
    """A 16UC1 millimetre frame: a wall at 2 m with five boxes in front of it."""
    depth = np.full((intrinsics.height, intrinsics.width), 2000, dtype=np.uint16)
    for _ in range(5):
        u, v = rng.integers(0, intrinsics.width - 40), rng.integers(0, intrinsics.height - 40)
        depth[v : v + 40, u : u + 40] = rng.integers(600, 1500)
    return depth


def observation_frame(intrinsics: Intrinsics, rng: np.random.Generator) -> Callable[[], Any]:
    """One frame with 5 instances from raw message buffers to views stored (single thread)."""
    from occnet_ros.observe.frame import FrameSettings, InstanceInfo, split_instances
    from occnet_ros.observe.objects import ObjectStore

    raw = synthetic_depth_frame(intrinsics, rng)
    ids = np.zeros_like(raw)
    boxes = np.argwhere(raw < 2000)
    ids[boxes[:, 0], boxes[:, 1]] = 1 + (boxes[:, 1] * 5 // intrinsics.width)
    instances = [InstanceInfo(i, f"class{i}") for i in range(1, 6)]
    depth_bytes, ids_bytes = raw.tobytes(), ids.tobytes()
    store = ObjectStore()

    def run():
        depth = decode_depth(np.frombuffer(depth_bytes, np.uint16).reshape(raw.shape), "16UC1")
        mask = np.frombuffer(ids_bytes, np.uint16).reshape(raw.shape)
        views = split_instances(depth, intrinsics, mask, instances, np.eye(4), 0.0, FrameSettings()).views
        store.add_frame(views)
        store.reset()

    return run


def mesh_iou(a, b, seed: int = 0) -> float:
    from occnet_ros.evaluate.metrics import unit_box_transform, volumetric_iou

    transform = unit_box_transform(b)
    return volumetric_iou(a.copy().apply_transform(transform), b.copy().apply_transform(transform), np.random.default_rng(seed))


def run_bench(reconstructor, points: np.ndarray, runs: int = 5, extra: Callable[[], list[dict[str, Any]]] | None = None,
              views: list | None = None) -> list[dict[str, Any]]:
    """All bench records; ``points`` is one object's partial cloud (world frame), ``views`` the
    depth views (DepthView) it came from, for the evidence records (first 5 for end to end, all
    for the evidence volume).

    ``extra`` adds records measured last (the CLI passes the bridge latency: bench stays below the bridge).
    """
    frame, inputs, _ = reconstructor.canonical_input(points)
    model = reconstructor.loaded.model
    threshold = reconstructor.extraction.threshold
    records, meshes = [], {}
    configs = [
        ("dense_128_folded", ExtractionSettings(128, 0, threshold), False, True),
        ("dense_128_unfolded", ExtractionSettings(128, 0, threshold), False, False),
        ("mise_32x4_folded", ExtractionSettings(32, 2, threshold), True, True),
        ("mise_32x4_unfolded", ExtractionSettings(32, 2, threshold), True, False),
        ("mise_32x4_folded_margin0", ExtractionSettings(32, 2, threshold, refine_margin=0.0), True, True),  # classic MISE
        ("mise_64x2_folded", ExtractionSettings(64, 1, threshold), True, True),
        ("dense_64_folded", ExtractionSettings(64, 0, threshold), False, True),
        ("mise_16x4_folded", ExtractionSettings(16, 2, threshold), True, True),
    ]
    configs.append(("mise_32x4_folded_bf16", ExtractionSettings(32, 2, threshold), True, True))
    for name, settings, use_mise, fold in configs:
        def reconstruct_once(settings=settings, use_mise=use_mise, fold=fold, bf16=name.endswith("bf16")):
            fn = model.occupancy_function(torch.from_numpy(inputs), fold=fold)
            if bf16:
                def fn_bf16(p, fn=fn):
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return fn(p).float()
                return extract_mesh(fn_bf16, settings, use_mise=use_mise)
            return extract_mesh(fn, settings, use_mise=use_mise)

        times, result = time_runs(reconstruct_once, max(1, runs if "dense_128" not in name else min(runs, 3)))
        meshes[name] = result.mesh
        records.append(record(f"reconstruct_{name}", times, evaluated_points=result.evaluated_points, resolution=settings.resolution))
    dense = meshes["dense_128_folded"]
    for r in records:
        key = r["name"].removeprefix("reconstruct_")
        r["iou_vs_dense128"] = mesh_iou(meshes[key], dense) if key != "dense_128_folded" else 1.0
    times, _ = time_runs(lambda: postprocess(meshes["mise_32x4_folded"]), runs)
    records.append(record("postprocess", times))
    rng = np.random.default_rng(0)
    for label, intrinsics in (("long_throw_320x288", HL2_LONG_THROW), ("ahat_512x512", HL2_AHAT)):
        raw = synthetic_depth_frame(intrinsics, rng)
        times, _ = time_runs(lambda raw=raw, intrinsics=intrinsics: backproject(decode_depth(raw, "16UC1"), intrinsics), runs * 10)
        records.append(record(f"backproject_{label}", times))

    for label, intrinsics in (("long_throw_320x288", HL2_LONG_THROW), ("ahat_512x512", HL2_AHAT)):
        frame = observation_frame(intrinsics, rng)
        times, _ = time_runs(frame, runs * 10)
        records.append(record(f"observation_frame_{label}_5_instances", times))
    from occnet_ros.evaluate.bench_camera import ray_table_records

    records += ray_table_records(runs, time_runs, record, synthetic_depth_frame)

    if views:
        records += evidence_records(views, runs)
    records += end_to_end_records(reconstructor, points, runs, views=views[:5] if views else None)
    if extra is not None:
        records += extra()
    base = next(r["median_s"] for r in records if r["name"] == "reconstruct_dense_128_folded")
    for r in records:
        r["ratio_to_dense128"] = r["median_s"] / base
    return records


END_TO_END_GRIDS = {64: (16, 2), 128: (32, 2)}  # MISE resolution0 and upsampling steps to 64^3 / 128^3


def evidence_records(views: list, runs: int) -> list[dict[str, Any]]:
    """The evidence volume (TSDF, weight, free space) of all views on grids over the object's
    region: 64^3 cells and about 1% of the object (100^3)."""
    from occnet_ros.complete.evidence import evidence_grid

    points = np.concatenate([v.points() for v in views])
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * (high - low).max()
    records = []
    for resolution in (64, 100):
        times, _ = time_runs(lambda resolution=resolution: evidence_grid(views, low - pad, high + pad, resolution), runs)
        records.append(record(f"evidence_volume_{resolution}^3_{len(views)}_views", times, resolution=resolution, views=len(views)))
    return records


def end_to_end_records(reconstructor, points: np.ndarray, runs: int, threads: tuple[int, ...] = (1, 2),
                       views: list | None = None) -> list[dict[str, Any]]:
    """Last view -> published mesh (canonical input, network + MISE, post-processing) at 64^3 and
    128^3-equivalent, in float32 and bfloat16 autocast, on 1 and 2 torch threads; with ``views``
    also the evidence path (evidence + fusion included) at fp32, with known-free space skipped
    (the default) and with the network at every query."""
    from occnet_ros.complete.reconstruct import Reconstructor

    records, before = [], torch.get_num_threads()
    draws = reconstructor.input_resamplings  # each variant encodes as many input resamplings as the reconstructor
    try:
        for count in threads:
            torch.set_num_threads(count)
            for resolution, (resolution0, steps) in END_TO_END_GRIDS.items():
                settings = replace(reconstructor.extraction, resolution0=resolution0, upsampling_steps=steps)
                for bf16 in (False, True):
                    variant = Reconstructor(reconstructor.loaded, settings, bf16=bf16, input_resamplings=draws)
                    times, _ = time_runs(lambda variant=variant: postprocess(variant.reconstruct(points).mesh, seen=points), runs)
                    precision = "bf16" if bf16 else "fp32"
                    records.append(record(f"end_to_end_{resolution}_{precision}_{count}thread", times, resolution=resolution,
                                          threads=count, precision=precision, input_resamplings=draws))
                for skip in (True, False) if views else ():
                    # side by side: known-free space skipped (the default) and the network at every query
                    fusion = replace(reconstructor.fusion, skip_known_free=skip)
                    variant = Reconstructor(reconstructor.loaded, settings, evidence=reconstructor.evidence, fusion=fusion, symmetry=reconstructor.symmetry,
                                            revolution=reconstructor.revolution,
                                            input_resamplings=draws)
                    times, _ = time_runs(lambda variant=variant: postprocess(variant.reconstruct(points, views).mesh, seen=points), runs)
                    label = "" if skip else "_model_everywhere"
                    records.append(record(f"end_to_end_{resolution}_evidence_{len(views)}views{label}_fp32_{count}thread", times,
                                          resolution=resolution, threads=count, precision="fp32", views=len(views),
                                          skip_known_free=skip, input_resamplings=draws))
    finally:
        torch.set_num_threads(before)
    return records


LATENCY_PREFIX = "latency_by_object_"
LATENCY_CATEGORIES = CATEGORIES  # one test object of each procedural category (bowl and sofa never trained on)


def object_latency_records(reconstructor, scenes: list[tuple[str, np.ndarray, list]], runs: int,
                           threads: int = 2) -> list[dict[str, Any]]:
    """Last view -> published mesh (evidence path, 128^3-equivalent) on each of several objects:
    ``scenes`` holds (name, merged cloud, depth views). The bench chair alone hides how the time
    grows with the surface (thin walls give marching cubes and the decimation many more faces),
    so each record also splits the time into reconstruction and post-processing."""
    records, before = [], torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        for name, points, views in scenes:
            reconstructor.reconstruct(points, views)  # warm-up
            built, finished, result = [], [], None
            for _ in range(runs):
                start = time.perf_counter()
                result = reconstructor.reconstruct(points, views)
                middle = time.perf_counter()
                postprocess(result.mesh, seen=points)
                built.append(middle - start)
                finished.append(time.perf_counter() - middle)
            totals = [a + b for a, b in zip(built, finished)]
            records.append(record(f"{LATENCY_PREFIX}{name}_{len(views)}views_{threads}thread", totals, object=name, views=len(views),
                                  threads=threads, resolution=128, input_resamplings=reconstructor.input_resamplings,
                                  reconstruct_median_s=float(np.median(built)), postprocess_median_s=float(np.median(finished)),
                                  network_points=result.network_points, marching_cubes_triangles=len(result.mesh.faces)))
    finally:
        torch.set_num_threads(before)
    return records


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; platform.processor() is empty there), else platform's guess."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.system()


def machine() -> dict[str, Any]:
    """What a timing depends on: CPU, core count, torch and its threads (timings compare only within one machine)."""
    return {"machine": platform.machine(), "processor": platform.processor(), "cpu_model": cpu_model(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version()}
