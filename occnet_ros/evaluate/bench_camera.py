"""Bench records of the ray-table camera (HoloLens 2 radial depth) against the pinhole path, same frames."""

from __future__ import annotations

from typing import Any

import numpy as np

from occnet_ros.geometry.camera import HL2_AHAT, HL2_LONG_THROW, Intrinsics, backproject, decode_depth
from occnet_ros.geometry.ray_table import RayTableCamera, distorted_table


def frame_fn(intrinsics: Intrinsics, camera: RayTableCamera | None, raw: np.ndarray, ids: np.ndarray):
    """Raw buffers -> decoded depth -> per-instance views stored (observation_frame's steps)."""
    from occnet_ros.observe.frame import FrameSettings, InstanceInfo, split_instances
    from occnet_ros.observe.objects import ObjectStore

    instances = [InstanceInfo(i, f"class{i}") for i in range(1, 6)]
    depth_bytes, ids_bytes, store = raw.tobytes(), ids.tobytes(), ObjectStore()

    def run():
        frame = np.frombuffer(depth_bytes, np.uint16).reshape(raw.shape)
        depth = decode_depth(frame, "16UC1") if camera is None else camera.decode(frame, "16UC1")[0]
        mask = np.frombuffer(ids_bytes, np.uint16).reshape(raw.shape)
        store.add_frame(split_instances(depth, camera or intrinsics, mask, instances, np.eye(4), 0.0, FrameSettings()).views)
        store.reset()

    return run


def ray_table_records(runs: int, time_runs, record, synthetic_depth_frame) -> list[dict[str, Any]]:
    """backproject_* and observation_frame_* for the ray table, with ``extra_ms_vs_pinhole`` (target <= 2 ms)."""
    records = []
    rng = np.random.default_rng(1)
    for label, intrinsics in (("long_throw_320x288", HL2_LONG_THROW), ("ahat_512x512", HL2_AHAT)):
        camera = RayTableCamera(distorted_table(intrinsics, 0.08, 0.01))
        raw = synthetic_depth_frame(intrinsics, rng)
        ids = np.zeros_like(raw)
        boxes = np.argwhere(raw < 2000)
        ids[boxes[:, 0], boxes[:, 1]] = 1 + (boxes[:, 1] * 5 // intrinsics.width)
        pairs = {
            f"backproject_{label}": (lambda raw=raw, intrinsics=intrinsics: backproject(decode_depth(raw, "16UC1"), intrinsics),
                                     lambda raw=raw, camera=camera: camera.backproject(camera.decode(raw, "16UC1")[0])),
            f"observation_frame_{label}_5_instances": (frame_fn(intrinsics, None, raw, ids), frame_fn(intrinsics, camera, raw, ids)),
        }
        for name, (pinhole, ray) in pairs.items():
            reps = runs * 10
            pin_times, _ = time_runs(pinhole, reps)
            ray_times, _ = time_runs(ray, reps)
            extra = (float(np.median(ray_times)) - float(np.median(pin_times))) * 1000
            records.append(record(f"{name}_pinhole_same_frame", pin_times))
            records.append(record(f"{name}_ray_table", ray_times, extra_ms_vs_pinhole=round(extra, 3)))
    return records
