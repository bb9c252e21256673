"""`occnet`: train, evaluate, benchmark and reconstruct without ROS."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from occnet_ros.bags_cli import COMMANDS as BAG_COMMANDS
from occnet_ros.bags_cli import add_parsers as add_bag_parsers


def _add_extraction_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, help="model file (default: the shipped one)")
    parser.add_argument("--resolution0", type=int, default=32, help="MISE coarse grid cells per axis")
    parser.add_argument("--upsampling-steps", type=int, default=2, help="MISE refinements (final = resolution0 * 2^steps)")
    parser.add_argument("--refine-margin", type=float, default=3.0, help="MISE also refines cells this many logits below the level")
    parser.add_argument("--threshold", type=float, help="occupancy threshold (default: the checkpoint's)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch CPU threads")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="occnet", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model from a YAML config, or fine-tune a checkpoint (--init)")
    train.add_argument("--config", type=Path, help="training config (optional with --init)")
    train.add_argument("--init", type=Path, help="fine-tune: start from this checkpoint, keeping its architecture")
    train.add_argument("--meshes", type=Path, help="train on this folder of meshes (DIR/train, DIR/val or every 5th file for val)")
    train.add_argument("--max-minutes", type=float, help="stop after this wall time (resumable)")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--out-dir", type=str)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--threads", type=int, help="torch CPU threads")

    data = sub.add_parser("data", help="generate the cached training records of a config")
    data.add_argument("--config", type=Path, required=True)
    data.add_argument("--splits", default="train,val")

    shapes = sub.add_parser("shapes", help="write procedural shapes as mesh files (to fine-tune or evaluate on)")
    shapes.add_argument("--categories", required=True, help="comma-separated procedural categories ('primitives' = category-free)")
    shapes.add_argument("--split", default="train", choices=["train", "val", "test"], help="seed range (the same shapes as that split)")
    shapes.add_argument("--count", type=int, default=5, help="shapes per category")
    shapes.add_argument("--out", type=Path, required=True, help="folder for <category>-<seed>.ply")

    rec = sub.add_parser("reconstruct", help="point cloud (world frame, metres) -> watertight mesh")
    rec.add_argument("input", type=Path, help=".ply/.pcd/.xyz/.npy/.npz point cloud")
    rec.add_argument("--out", type=Path, required=True, help="mesh file (.obj/.ply/.stl/.glb)")
    rec.add_argument("--up", default="z", choices=["z", "y"], help="up axis of the input (output uses the same)")
    rec.add_argument("--max-triangles", type=int, default=5000)
    rec.add_argument("--no-postprocess", action="store_true")
    _add_extraction_args(rec)

    evaluate = sub.add_parser("eval", help="evaluate methods on meshes against ground truth")
    evaluate.add_argument("--meshes", type=Path, help="folder of ground-truth meshes (default: procedural shapes of --split)")
    evaluate.add_argument("--split", default="test", choices=["val", "test"], help="procedural split when no --meshes")
    evaluate.add_argument("--per-category", type=int, default=2, help="procedural shapes per category when no --meshes")
    evaluate.add_argument("--categories", help="procedural categories when no --meshes, comma-separated (default: all 10; "
                          "'primitives' = category-free shapes)")
    evaluate.add_argument("--views", default="5", help="number(s) of views, e.g. 5 or 1,3,5,10")
    evaluate.add_argument("--methods", default="occnet,tsdf,poisson,hull")
    evaluate.add_argument("--json", type=Path, help="write the per-object records here")
    evaluate.add_argument("--report", type=Path, help="write a Markdown report with pictures here")
    evaluate.add_argument("--limit", type=int, help="evaluate at most this many meshes")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--up", default="z", choices=["z", "y"], help="up axis of the meshes")
    evaluate.add_argument("--surface-samples", type=int, default=100_000, help="surface samples per mesh for CD-L1 and F-score")
    _add_extraction_args(evaluate)

    bench = sub.add_parser("bench", help="timings of the pipeline stages")
    bench.add_argument("--json", type=Path)
    bench.add_argument("--runs", type=int, default=5)
    _add_extraction_args(bench)
    add_bag_parsers(sub)
    return parser


def _load_reconstructor(args: argparse.Namespace):
    import torch

    from occnet_ros.core.extract import ExtractionSettings
    from occnet_ros.core.io import default_checkpoint
    from occnet_ros.core.model.checkpoint import load_checkpoint
    from occnet_ros.core.reconstruct import Reconstructor
    from occnet_ros.core.train import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    loaded = load_checkpoint(args.checkpoint or default_checkpoint(), device)
    threshold = args.threshold if args.threshold is not None else loaded.settings.threshold
    extraction = ExtractionSettings(args.resolution0, args.upsampling_steps, threshold, refine_margin=args.refine_margin)
    return Reconstructor(loaded, extraction)


def cmd_train(args: argparse.Namespace) -> int:
    from occnet_ros.core.config import load_config
    from occnet_ros.core.train import train

    if args.config is None and args.init is None:
        raise ValueError("occnet train needs --config, or --init CHECKPOINT (with --meshes DIR) to fine-tune")
    config = load_config(args.config) if args.config else {}
    if args.init:
        config = fine_tune_config(config, args.init, args.meshes)
    elif args.meshes:
        config.setdefault("data", {})["sources"] = [{"type": "mesh_dir", "path": str(args.meshes)}]
    overrides = {"max_minutes": args.max_minutes, "max_steps": args.max_steps, "out_dir": args.out_dir,
                 "batch_size": args.batch_size, "threads": args.threads}
    config.setdefault("train", {}).update({k: v for k, v in overrides.items() if v is not None})
    result = train(config)
    print(json.dumps(result))
    return 0


def fine_tune_config(config: dict, init: Path, meshes: Path | None) -> dict:
    """Fine-tuning: the checkpoint's architecture and input preparation, a gentler schedule,
    the user's meshes as data (when given), a cache and output directory of their own."""
    from occnet_ros.core.config import deep_update
    from occnet_ros.core.model.checkpoint import read_checkpoint

    state = read_checkpoint(init)
    settings = state.get("settings", {})
    name = (meshes or init).resolve().name
    defaults = {
        "data": {"cache_dir": f"data/cache/finetune-{name}",
                 "example": {k: settings[k] for k in ("input_points", "fill", "align_yaw") if k in settings}},
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
    from occnet_ros.core.config import load_config
    from occnet_ros.core.train import prepare_split

    config = load_config(args.config)
    for split in args.splits.split(","):
        paths = prepare_split(config.get("data", {}), split)
        print(f"{split}: {len(paths)} records")
    return 0


def cmd_shapes(args: argparse.Namespace) -> int:
    from occnet_ros.core.data.procedural import SPLIT_SEEDS, make_shape_by_seed

    if args.count < 1:
        raise ValueError(f"--count must be at least 1, got {args.count}")
    args.out.mkdir(parents=True, exist_ok=True)
    for category in (c.strip() for c in args.categories.split(",")):
        for seed in range(SPLIT_SEEDS[args.split], SPLIT_SEEDS[args.split] + args.count):
            make_shape_by_seed(category, seed).export(args.out / f"{category}-{seed:07d}.ply")
    print(f"{args.out}: {args.count} shapes each of {args.categories} ({args.split} seeds)")
    return 0


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from occnet_ros.core.io import read_points
    from occnet_ros.core.postprocess import PostprocessSettings, postprocess

    points = read_points(args.input, args.up)
    result = _load_reconstructor(args).reconstruct(points)
    mesh = result.mesh
    if not args.no_postprocess:
        mesh = postprocess(mesh, PostprocessSettings(max_triangles=args.max_triangles)).mesh
    if args.up == "y":  # back to the input's convention
        mesh.vertices = mesh.vertices[:, [0, 2, 1]] * [1.0, 1.0, -1.0]
        mesh.invert()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(args.out)
    print(
        f"{args.input}: {result.input_points} points -> {args.out}: {len(mesh.faces)} triangles, "
        f"watertight={mesh.is_watertight}, {sum(result.timings.values()):.2f} s"
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from occnet_ros.core.evaluate import run_eval_command

    return run_eval_command(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from occnet_ros.core.bench import run_bench_command

    return run_bench_command(args)


COMMANDS = {
    "train": cmd_train,
    "data": cmd_data,
    "shapes": cmd_shapes,
    "reconstruct": cmd_reconstruct,
    "eval": cmd_eval,
    "bench": cmd_bench,
    **BAG_COMMANDS,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from occnet_ros.core.model.checkpoint import CheckpointError
    from occnet_ros.core.normalize import DegenerateCloudError

    try:
        return COMMANDS[args.command](args)
    except (CheckpointError, DegenerateCloudError, FileNotFoundError, ValueError) as error:
        print(f"occnet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
