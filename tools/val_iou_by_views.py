"""Validation IoU by the number of views merged, for one or more checkpoints (issue 17).

The training validation draws 1..10 random views per record; this splits that figure by view
count on the same records (uniform queries, the threshold swept as in training), to show how
much of the gap to a fully observed object is the input's ambiguity and how much the prior's:

    python -P tools/val_iou_by_views.py --config config/train/conv_onet_evidence.yaml \
        models/conv_onet_evidence.pt models/conv_onet_evidence_long.best.pt --json docs/eval/val_iou_by_views.json

`--by-source` adds each data source's records alone (docs/eval/val_iou_by_source.json): whether the
held-out pybullet and furniture records rank checkpoints as the foreign-shape and furniture test
splits do, i.e. whether they can pick the best model without looking at a test split.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from occnet_ros.learn.config import load_config
from occnet_ros.learn.dataset import ExampleSpec, OccupancyDataset
from occnet_ros.learn.splits import prepare_split
from occnet_ros.learn.train import validate
from occnet_ros.model.checkpoint import load_checkpoint


def iou_by_views(checkpoint: Path, paths: list[Path], spec: ExampleSpec, views: list[int], seed: int) -> dict[int, dict]:
    """Validation metrics of a checkpoint with exactly k views merged, for each k in views."""
    model = load_checkpoint(checkpoint).model
    results = {}
    for count in views:
        dataset = OccupancyDataset(paths, replace(spec, min_views=count, max_views=count), seed=seed)
        results[count] = validate(model, DataLoader(dataset, batch_size=16), torch.device("cpu"))
    return results


def record_source(path: Path) -> str:
    """The data source a cached record came from, read off its file name (procedural-chair-1000000.npz,
    pybullet-17.npz, sh3d-....npz): procedural primitives apart from the procedural categories."""
    name = path.name
    if name.startswith("procedural-primitives"):
        return "primitives"
    return {"procedural": "procedural", "pybullet": "pybullet", "sh3d": "furniture"}.get(name.split("-")[0], "other")


def by_source(paths: list[Path]) -> dict[str, list[Path]]:
    """Records grouped by their source, in a fixed order."""
    groups: dict[str, list[Path]] = {}
    for path in sorted(paths):
        groups.setdefault(record_source(path), []).append(path)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, required=True, help="training config whose validation records to use")
    parser.add_argument("--views", default="1,3,5,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--by-source", action="store_true",
                        help="also each data source's records alone (procedural, primitives, pybullet, furniture; "
                        "the threshold swept per source)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    spec = ExampleSpec.from_dict(config["data"].get("example", {})).for_validation()
    paths = prepare_split(config["data"], "val", progress=False)
    views = [int(v) for v in args.views.split(",")]
    seed = int(config.get("train", {}).get("seed", 0)) + 1  # the training validation's seed
    groups = {"all": paths, **(by_source(paths) if args.by_source else {})}
    table = {group: {str(path): iou_by_views(path, members, spec, views, seed) for path in args.checkpoints}
             for group, members in groups.items()}
    for group, results in table.items():
        print(f"{len(groups[group])} validation records of {args.config} ({group}); IoU (threshold) by views merged")
        print("| checkpoint | " + " | ".join(f"{v} views" for v in views) + " |")
        for name, rows in results.items():
            print(f"| {Path(name).name} | " + " | ".join(f"{rows[v]['iou']:.3f} ({rows[v]['threshold']:.2f})" for v in views) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"config": str(args.config), "records": len(paths), "results": table["all"]}
        if args.by_source:
            report["by_source"] = {group: {"records": len(groups[group]), "results": table[group]} for group in groups if group != "all"}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
