"""Torch dataset of training examples drawn from cached records.

An example is what the network sees at run time: 1..max_views partial views merged,
rotated by a random yaw, put into the canonical frame of the observed points, resampled to a
fixed number of input points; plus query points and their occupancy in that same frame.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch.utils.data import Dataset

from occnet_ros.geometry.frames import BOX_HALF, CanonicalFrame, resample, yaw_matrix
from occnet_ros.geometry.views import LINE_OF_SIGHT_OFFSETS, line_of_sight_samples
from occnet_ros.learn.records import Record


@dataclass(frozen=True)
class ExampleSpec:
    """How examples are drawn from records."""

    input_points: int = 1024
    query_points: int = 2048
    min_views: int = 1
    max_views: int = 10
    fill: float = 0.8
    align_yaw: bool = True
    yaw_augment: bool = True
    input_noise: float = 0.0  # extra Gaussian noise, fraction of the unit box
    uniform_queries_only: bool = False  # draw queries only from the uniform ones (for IoU)
    free_points: int = 0  # line-of-sight points per example (records must keep camera origins)
    mirror: bool = False  # reflect half the examples (x -> -x, then the yaw): shapes of either hand
    aspect_jitter: float = 0.0  # scale each axis by a log-uniform factor in [1/(1+a), 1+a]
    # loss weight of queries within observed_radius (canonical box) of an observed point: at run time the
    # views' TSDF decides there (complete/fusion.py), so < 1 spends the network on the unobserved space
    observed_weight: float = 1.0
    observed_radius: float = 0.03

    @classmethod
    def from_dict(cls, values: dict) -> ExampleSpec:
        """The spec of a config's ``data.example``; an unknown key fails naming it."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown data.example keys {unknown}; known: {sorted(f.name for f in fields(cls))}")
        return cls(**values)

    def __post_init__(self) -> None:
        if not 0.0 <= self.aspect_jitter < 1.0:
            raise ValueError(f"data.example.aspect_jitter must be in [0, 1), got {self.aspect_jitter}")
        if not 0.0 < self.observed_weight <= 1.0 or self.observed_radius <= 0:
            raise ValueError(f"data.example.observed_weight must be in (0, 1] and observed_radius positive, "
                             f"got {self.observed_weight}, {self.observed_radius}")

    def for_validation(self) -> ExampleSpec:
        """The same draws without the shape augmentations, on uniform queries (volumetric IoU)."""
        return replace(self, uniform_queries_only=True, query_points=4096, mirror=False, aspect_jitter=0.0, observed_weight=1.0)


def make_example(record: Record, rng: np.random.Generator, spec: ExampleSpec) -> dict[str, np.ndarray]:
    """One (inputs, queries, occupancies) example from a record, in the canonical frame."""
    n_views = int(rng.integers(spec.min_views, min(spec.max_views, len(record.views)) + 1))
    chosen = rng.choice(len(record.views), n_views, replace=False)
    observed = np.concatenate([record.views[i] for i in chosen])
    transform = example_transform(rng, spec)
    observed = observed @ transform.T
    frame = CanonicalFrame.from_points(observed, spec.fill, spec.align_yaw)
    inputs = frame.to_canonical(resample(observed, spec.input_points, rng))
    extra = {}
    if spec.free_points > 0:
        extra["free"] = _free_points(record, chosen, transform, frame, rng, spec.free_points)
    if spec.input_noise > 0:
        inputs = inputs + rng.normal(scale=spec.input_noise, size=inputs.shape)
    all_queries, all_occ = record.uniform_queries if spec.uniform_queries_only else (record.queries, record.occupancies)
    pick = rng.choice(len(all_queries), min(spec.query_points, len(all_queries)), replace=False)
    queries = frame.to_canonical(all_queries[pick] @ transform.T)
    if spec.observed_weight < 1.0:
        extra["weights"] = observed_weights(queries, frame.to_canonical(observed), spec.observed_radius, spec.observed_weight)
    return {
        "inputs": inputs.astype(np.float32),
        "queries": queries.astype(np.float32),
        "occupancies": all_occ[pick].astype(np.float32),
        **extra,
    }


def example_transform(rng: np.random.Generator, spec: ExampleSpec) -> np.ndarray:
    """The linear map applied to an example's points, queries and cameras: a random yaw, after
    an optional mirror and per-axis scale. Occupancy is unchanged by any invertible linear map,
    so the record's labels stay true; with both augmentations off the draws are those of a yaw
    alone (runs without them reproduce exactly)."""
    transform = yaw_matrix(rng.uniform(0, 2 * np.pi)) if spec.yaw_augment else np.eye(3)
    if spec.aspect_jitter > 0:
        transform = transform @ np.diag(np.exp(rng.uniform(-1.0, 1.0, 3) * np.log1p(spec.aspect_jitter)))
    if spec.mirror and rng.random() < 0.5:
        transform = transform @ np.diag([-1.0, 1.0, 1.0])
    return transform


def observed_weights(queries: np.ndarray, observed: np.ndarray, radius: float, weight: float) -> np.ndarray:
    """Per-query loss weight: ``weight`` within ``radius`` of an observed point, 1 elsewhere."""
    near = cKDTree(observed).query(queries, distance_upper_bound=radius)[0] < radius
    return np.where(near, weight, 1.0).astype(np.float32)


def _free_points(record: Record, chosen: np.ndarray, transform: np.ndarray, frame: CanonicalFrame,
                 rng: np.random.Generator, count: int) -> np.ndarray:
    """Line-of-sight points of the chosen views in the canonical frame, exactly ``count`` of
    them (repeated surface-adjacent points where the box holds too few)."""
    if record.origins is None:
        raise ValueError(f"record {record.name!r} keeps no camera origins; regenerate the data cache "
                         "(a new data.cache_dir) to train with free_points")
    points = frame.to_canonical(np.concatenate([record.views[i] for i in chosen]) @ transform.T)
    origins = frame.to_canonical(np.concatenate([np.repeat(record.origins[i][None], len(record.views[i]), 0) for i in chosen]) @ transform.T)
    free = line_of_sight_samples(points, origins, count, rng, LINE_OF_SIGHT_OFFSETS, BOX_HALF)
    if len(free) < count:  # nothing crossed inside the box: points just in front of the surface
        free = line_of_sight_samples(points, origins, count, rng, (1e-3, 2e-3), np.inf)
    return free.astype(np.float32)


class OccupancyDataset(Dataset):
    """Examples from cached record files; records are loaded once and kept in memory.

    The example of an index depends only on (seed, epoch, index): set ``epoch`` each epoch for
    fresh draws (training) or leave it fixed (validation); runs are reproducible and resumable.
    """

    def __init__(self, paths: list[Path], spec: ExampleSpec, seed: int = 0) -> None:
        if not paths:
            raise ValueError("the dataset has no records")
        self.records = [Record.load(p) for p in paths]
        self.spec = spec
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        example = make_example(self.records[index], rng, self.spec)
        return {key: torch.from_numpy(value) for key, value in example.items()}
