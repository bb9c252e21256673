"""A compact copy of a config's cached records, to train where the cache cannot be rebuilt.

The device machine (a GPU lent for minutes) has torch but neither open3d nor the pybullet wheel
that make the records, and what travels there is bounded (tens of MiB). A pack keeps every view,
a random subset of each record's occupancy queries (near/uniform proportions kept), a small
surface sample, compressed; records are taken in a seeded shuffled order until the byte budget
is spent, so every source and category stays represented. A config reads a pack with the data
source ``{type: records_dir, path: DIR}`` (DIR/train/*.npz, DIR/val/*.npz).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from occnet_ros.learn.records import Record

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackSettings:
    queries: int = 4096  # occupancy queries kept per record (training draws query_points of them per example)
    surface_points: int = 256
    budget_mb: float = 30.0  # all splits together
    val_fraction: float = 0.1  # of the budget, for the validation split
    seed: int = 0


def shrink(record: Record, settings: PackSettings, rng: np.random.Generator) -> Record:
    """The record with a subset of its queries (near-surface share kept) and of its surface samples."""
    total = len(record.queries)
    keep = min(settings.queries, total)
    near = int(round(keep * record.n_near / total)) if total else 0
    near_idx = np.sort(rng.choice(record.n_near, min(near, record.n_near), replace=False))
    uniform_idx = record.n_near + np.sort(rng.choice(total - record.n_near, min(keep - len(near_idx), total - record.n_near),
                                                     replace=False))
    index = np.concatenate([near_idx, uniform_idx]).astype(np.int64)
    surface = record.surface[rng.choice(len(record.surface), min(settings.surface_points, len(record.surface)), replace=False)]
    return Record(views=record.views, queries=record.queries[index], occupancies=record.occupancies[index], surface=surface,
                  n_near=len(near_idx), name=record.name, origins=record.origins)


def pack_split(paths: list[Path], out_dir: Path, settings: PackSettings, budget_bytes: float) -> list[Path]:
    """Shrunk records of ``paths`` written to ``out_dir`` until ``budget_bytes`` is spent."""
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(paths))
    written, used = [], 0
    for index in order:
        source = paths[index]
        target = out_dir / source.name
        shrink(Record.load(source), settings, rng).save(target, compressed=True)
        size = target.stat().st_size
        if used + size > budget_bytes:
            target.unlink()
            break
        used += size
        written.append(target)
    log.info("%s: %d of %d records, %.1f MB", out_dir, len(written), len(paths), used / 1e6)
    return written


def pack(splits: dict[str, list[Path]], out_dir: Path, settings: PackSettings) -> dict[str, int]:
    """Pack the train and val records into out_dir/<split>/; returns the record count per split."""
    if any(out_dir.glob("*/*.npz")):
        raise FileExistsError(f"{out_dir} already holds a pack; remove it or pick another folder")
    budget = settings.budget_mb * 1e6
    shares = {"val": budget * settings.val_fraction, "train": budget * (1 - settings.val_fraction)}
    return {split: len(pack_split(paths, out_dir / split, settings, shares[split])) for split, paths in splits.items()}


def packed_records(source: dict, split: str) -> list[Path]:
    """The record files of a ``records_dir`` source for one split (an error names a missing folder)."""
    folder = Path(source["path"]) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"records_dir source: no folder {folder} (make one with `occnet data --pack`)")
    return sorted(folder.glob("*.npz"))
