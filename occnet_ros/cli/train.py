"""`occnet train`, `occnet data` and `occnet shapes`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_train(args: argparse.Namespace) -> int:
    from occnet_ros.learn.config import load_config
    from occnet_ros.learn.train import train

    if args.config is None and args.init is None:
        raise ValueError("occnet train needs --config, or --init CHECKPOINT (with --meshes DIR) to fine-tune")
    config = load_config(args.config) if args.config else {}
    if args.init:
        config = fine_tune_config(config, args.init, args.meshes)
    elif args.meshes:
        config.setdefault("data", {})["sources"] = [{"type": "mesh_dir", "path": str(args.meshes)}]
    overrides = {"max_minutes": args.max_minutes, "chunk_steps": args.chunk_steps, "max_steps": args.max_steps, "out_dir": args.out_dir,
                 "batch_size": args.batch_size, "threads": args.threads, "device": args.device}
    config.setdefault("train", {}).update({k: v for k, v in overrides.items() if v is not None})
    result = train(config)
    print(json.dumps(result))
    return 0


def fine_tune_config(config: dict, init: Path, meshes: Path | None) -> dict:
    """Fine-tuning: the checkpoint's architecture and input preparation, a gentler schedule,
    the user's meshes as data (when given), a cache and output directory of their own."""
    from occnet_ros.learn.config import deep_update
    from occnet_ros.model.checkpoint import read_checkpoint

    state = read_checkpoint(init)
    settings = state.get("settings", {})
    name = (meshes or init).resolve().name
    defaults = {
        "data": {"cache_dir": f"data/cache/finetune-{name}",
                 "example": {k: settings[k] for k in ("input_points", "fill", "align_yaw", "free_points") if k in settings}},
        "train": {"out_dir": f"runs/finetune-{name}", "lr": 1e-4, "lr_schedule": "cosine", "warmup_steps": 50, "max_steps": 1000,
                  "validate_every": 100, "checkpoint_every": 50, "batch_size": 8},
    }
    config = deep_update(defaults, config)
    if not config.get("model"):  # a given model section must match the checkpoint's (the trainer checks)
        config["model"] = state["model_config"]
    config["train"]["init"] = str(init)
    if meshes is not None:
        config["data"]["sources"] = [{"type": "mesh_dir", "path": str(meshes)}]
    return config


def cmd_data(args: argparse.Namespace) -> int:
    from occnet_ros.learn.config import load_config
    from occnet_ros.learn.splits import prepare_split

    config = load_config(args.config)
    splits = {}
    for split in args.splits.split(","):
        splits[split] = prepare_split(config.get("data", {}), split)
        print(f"{split}: {len(splits[split])} records")
    if args.pack:
        from occnet_ros.learn.pack import PackSettings, pack

        counts = pack(splits, args.pack, PackSettings(queries=args.pack_queries, budget_mb=args.pack_mb))
        print(f"{args.pack}: " + ", ".join(f"{split} {n} records" for split, n in counts.items()))
    return 0


def cmd_shapes(args: argparse.Namespace) -> int:
    from occnet_ros.shapes.catalog import SPLIT_SEEDS, make_shape_by_seed

    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    args.out.mkdir(parents=True, exist_ok=True)
    for category in (c.strip() for c in args.categories.split(",")):
        for seed in range(SPLIT_SEEDS[args.split], SPLIT_SEEDS[args.split] + args.count):
            make_shape_by_seed(category, seed).export(args.out / f"{category}-{seed:07d}.ply")
    print(f"{args.out}: {args.count} shapes each of {args.categories} ({args.split} seeds)")
    return 0
