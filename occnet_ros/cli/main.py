"""`occnet`: train, evaluate, benchmark and reconstruct without ROS."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from occnet_ros.cli.bags import COMMANDS as BAG_COMMANDS
from occnet_ros.cli.bags import add_parsers as add_bag_parsers
from occnet_ros.cli.evaluate import cmd_bench, cmd_eval
from occnet_ros.cli.reconstruct import add_extraction_args, cmd_reconstruct
from occnet_ros.cli.train import cmd_data, cmd_shapes, cmd_train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="occnet", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model from a YAML config, or fine-tune a checkpoint (--init)")
    train.add_argument("--config", type=Path, help="training config (optional with --init)")
    train.add_argument("--init", type=Path, help="fine-tune: start from this checkpoint, keeping its architecture")
    train.add_argument("--meshes", type=Path, help="train on this folder of meshes (DIR/train, DIR/val or every 5th file for val)")
    train.add_argument("--max-minutes", type=float, help="stop after this wall time (resumable)")
    train.add_argument("--chunk-steps", type=int, help="stop after this many steps of this invocation (resumable; the schedule still runs to max_steps)")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--out-dir", type=str)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--threads", type=int, help="torch CPU threads")
    train.add_argument("--device", help="auto, cpu or cuda (overrides train.device)")

    data = sub.add_parser("data", help="generate the cached training records of a config")
    data.add_argument("--config", type=Path, required=True)
    data.add_argument("--splits", default="train,val")
    data.add_argument("--pack", type=Path, help="also write a compact copy of the records here (to train where they cannot be made, "
                                                "e.g. on a lent GPU: tools/device_train.sh); read it with {type: records_dir, path: DIR}")
    data.add_argument("--pack-mb", type=float, default=30.0, help="byte budget of the pack, all splits (MB)")
    data.add_argument("--pack-queries", type=int, default=4096, help="occupancy queries kept per record in the pack")

    shapes = sub.add_parser("shapes", help="write procedural shapes as mesh files (to fine-tune or evaluate on)")
    shapes.add_argument("--categories", required=True, help="comma-separated procedural categories ('primitives' = category-free)")
    shapes.add_argument("--split", default="train", choices=["train", "val", "test"], help="seed range (the same shapes as that split)")
    shapes.add_argument("--count", type=int, default=5, help="shapes per category")
    shapes.add_argument("--out", type=Path, required=True, help="folder for <category>-<seed>.ply")

    rec = sub.add_parser("reconstruct", help="point cloud (world frame, metres) -> watertight mesh")
    rec.add_argument("input", type=Path, help="views file (.npz with depth, mask, K, world_from_camera) or a "
                     ".ply/.pcd/.xyz/.npy/.npz point cloud (the prior alone)")
    rec.add_argument("--no-evidence", action="store_true", help="with a views file: use only its points (the prior alone)")
    rec.add_argument("--out", type=Path, required=True, help="mesh file (.obj/.ply/.stl/.glb)")
    rec.add_argument("--up", default="z", choices=["z", "y"], help="up axis of the input (output uses the same)")
    rec.add_argument("--max-triangles", type=int, default=5000)
    rec.add_argument("--no-postprocess", action="store_true")
    add_extraction_args(rec)

    evaluate = sub.add_parser("eval", help="evaluate methods on meshes against ground truth")
    evaluate.add_argument("--meshes", type=Path, help="folder of ground-truth meshes (default: procedural shapes of --split)")
    evaluate.add_argument("--split", default="test", choices=["val", "test"], help="procedural split when no --meshes")
    evaluate.add_argument("--foreign", nargs="?", const="pybullet", choices=["pybullet", "furniture"],
                          help="shapes the generator did not make, of --split, instead of procedural shapes: 'pybullet' "
                          "(the default; the wheel's random objects, test: indices 950-999) or 'furniture' (Debian's "
                          "sweethome3d-furniture models, indoor categories; the test split is never trained on)")
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
    evaluate.add_argument("--sensor", default="basic", help="sensor model of the rendered views: 'basic' (ToF noise and "
                          "dropouts on exact masks) or a preset of geometry/sensor.py (e.g. hololens2_long_throw: flying "
                          "pixels, multipath, masks that bleed onto the rendered table and floor, pose error, cleaned as "
                          "the observation node cleans)")
    add_extraction_args(evaluate)

    bench = sub.add_parser("bench", help="timings of the pipeline stages")
    bench.add_argument("--json", type=Path)
    bench.add_argument("--runs", type=int, default=5)
    add_extraction_args(bench)
    add_bag_parsers(sub)
    return parser


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
    from occnet_ros.geometry.frames import DegenerateCloudError
    from occnet_ros.model.checkpoint import CheckpointError

    try:
        return COMMANDS[args.command](args)
    except (CheckpointError, DegenerateCloudError, FileNotFoundError, ValueError) as error:
        print(f"occnet {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
