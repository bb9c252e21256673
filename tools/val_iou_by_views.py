"""Validation IoU by the number of views merged, for one or more checkpoints (issue 17).

The training validation draws 1..10 random views per record; this splits that figure by view
count on the same records (uniform queries, the threshold swept as in training), to show how
much of the gap to a fully observed object is the input's ambiguity and how much the prior's:

    python -P tools/val_iou_by_views.py --config config/train/conv_onet_evidence.yaml \
        models/conv_onet_evidence.pt models/conv_onet_evidence_long.best.pt --json docs/eval/val_iou_by_views.json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, required=True, help="training config whose validation records to use")
    parser.add_argument("--views", default="1,3,5,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    spec = ExampleSpec.from_dict(config["data"].get("example", {})).for_validation()
    paths = prepare_split(config["data"], "val", progress=False)
    views = [int(v) for v in args.views.split(",")]
    seed = int(config.get("train", {}).get("seed", 0)) + 1  # the training validation's seed
    table = {str(path): iou_by_views(path, paths, spec, views, seed) for path in args.checkpoints}
    print(f"{len(paths)} validation records of {args.config}; IoU (threshold) by views merged")
    print("| checkpoint | " + " | ".join(f"{v} views" for v in views) + " |")
    for name, rows in table.items():
        print(f"| {Path(name).name} | " + " | ".join(f"{rows[v]['iou']:.3f} ({rows[v]['threshold']:.2f})" for v in views) + " |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"config": str(args.config), "records": len(paths), "results": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
