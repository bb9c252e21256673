"""Paired comparisons on the validation splits only (never the test splits the benchmarks report):
checkpoints, or one checkpoint with several input resamplings (test-time ensembling).

Each variant is 'NAME=CHECKPOINT[@K] [EVAL ARGUMENTS]' (K input resamplings, default the
reconstruction's; further `occnet eval` arguments, e.g. --max-handles -1); the first is the
reference. This runs `occnet eval` on each validation split for each variant and writes, per split
and number of views, the mean F@1% (whole surface and unobserved part) and the mean per-object
difference to the reference with its standard error; ``--sensor PRESET`` renders every view with a
sensor preset of geometry/sensor.py instead of `basic` (sensor-true inputs); ``--splits`` picks them
(default procedural, pybullet, furniture; ``procedural_wide``, three shapes per category, is for
changes that act on small or thin-walled objects, of which the default holds one each). How INPUT_RESAMPLINGS = 4
was chosen (docs/eval/resampling_study.json):

    python -P tools/validation_study.py --variant k1=models/conv_onet_furniture.pt@1 \
        --variant k4=models/conv_onet_furniture.pt@4 --variant k8=models/conv_onet_furniture.pt@8 \
        --variant k16=models/conv_onet_furniture.pt@16 --work runs/resampling_study --json docs/eval/resampling_study.json

Timings are `occnet bench`'s job (end_to_end records), not this study's: its evaluations share the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

# the validation splits: procedural shapes (one per training category), the pybullet wheel's
# validation objects (900-949) and the furniture package's validation split
SPLITS = {
    "procedural": ["--split", "val", "--per-category", "1"],
    "pybullet": ["--split", "val", "--foreign", "--limit", "16"],
    "furniture": ["--split", "val", "--foreign", "furniture"],
    # opt-in: three procedural shapes per category (3 bowls, 3 mugs, ... instead of one each)
    "procedural_wide": ["--split", "val", "--per-category", "3"],
}
DEFAULT_SPLITS = "procedural,pybullet,furniture"


class Variant(NamedTuple):
    name: str
    checkpoint: Path
    resamplings: int | None  # None: the reconstruction's
    eval_args: tuple[str, ...] = ()  # further `occnet eval` arguments, e.g. ("--max-handles", "-1")


def parse_variant(text: str) -> Variant:
    """The Variant of 'NAME=CHECKPOINT[@K] [EVAL ARGUMENTS...]'."""
    head, *eval_args = text.split()
    name, sep, rest = head.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError(f"a variant is NAME=CHECKPOINT[@K] [EVAL ARGUMENTS], got {text!r}")
    checkpoint, _, k = rest.partition("@")
    try:
        resamplings = int(k) if k else None
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: K must be an integer") from None
    return Variant(name, Path(checkpoint), resamplings, tuple(eval_args))


def run_eval(checkpoint: Path, split_args: list[str], views: str, resamplings: int | None, out: Path,
             sensor: str = "basic", eval_args: tuple[str, ...] = ()) -> list[dict]:
    """`occnet eval` records of one split (kept in ``out`` to resume a study)."""
    if not out.exists():
        command = [sys.executable, "-P", "-m", "occnet_ros.cli", "eval", "--checkpoint", str(checkpoint), *split_args,
                   "--views", views, "--sensor", sensor, "--methods", "occnet", "--surface-samples", "50000", "--json", str(out), *eval_args]
        if resamplings is not None:
            command += ["--input-resamplings", str(resamplings)]
        subprocess.run(command, check=True)
    return [r for r in json.loads(out.read_text()) if r["method"] == "occnet"]


def paired(base: list[dict], other: list[dict], views: int, key: str) -> dict:
    """Mean of ``key`` for both and the mean per-object difference (other - base) with its standard error."""
    a = {r["object"]: r[key] for r in base if r["views"] == views and r[key] is not None}
    b = {r["object"]: r[key] for r in other if r["views"] == views and r[key] is not None}
    common = sorted(set(a) & set(b))
    diffs = [b[o] - a[o] for o in common]
    return {"objects": len(common), "base": statistics.fmean(a[o] for o in common), "mean": statistics.fmean(b[o] for o in common),
            "diff": statistics.fmean(diffs), "se": statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else None,
            "wins": sum(d > 0 for d in diffs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", type=parse_variant, action="append", required=True,
                        help="'NAME=CHECKPOINT[@K] [EVAL ARGUMENTS]', at least two; the first is the reference")
    parser.add_argument("--views", default="3,5")
    parser.add_argument("--splits", default=DEFAULT_SPLITS, help=f"validation splits, of {', '.join(SPLITS)} (default {DEFAULT_SPLITS})")
    parser.add_argument("--sensor", default="basic", help="sensor model of the rendered views (occnet eval --sensor), "
                        "e.g. hololens2_long_throw for sensor-true inputs")
    parser.add_argument("--work", type=Path, default=Path("runs/validation_study"), help="where each eval's records are kept")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    if len(args.variant) < 2 or len({variant.name for variant in args.variant}) != len(args.variant):
        parser.error("give at least two variants with distinct names")
    unknown = sorted(set(args.splits.split(",")) - set(SPLITS))
    if unknown:
        parser.error(f"unknown splits {unknown}; known: {sorted(SPLITS)}")
    args.work.mkdir(parents=True, exist_ok=True)
    reference = args.variant[0][0]
    result = {"variants": {v.name: {"checkpoint": str(v.checkpoint), "input_resamplings": v.resamplings, "eval_args": list(v.eval_args)}
                           for v in args.variant},
              "reference": reference, "sensor": args.sensor, "splits": {}}
    sensor = "" if args.sensor == "basic" else f"{args.sensor}_"  # basic keeps the file names of earlier studies
    for split in args.splits.split(","):
        records = {v.name: run_eval(v.checkpoint, SPLITS[split], args.views, v.resamplings, args.work / f"{split}_{sensor}{v.name}.json",
                                    args.sensor, v.eval_args) for v in args.variant}
        result["splits"][split] = {
            f"{views} views": {name: {key: paired(records[reference], records[name], views, key)
                                      for key in ("fscore_1pct", "fscore_1pct_unobserved")} for name, *_ in args.variant[1:]}
            for views in (int(v) for v in args.views.split(","))}
        print(json.dumps({split: result["splits"][split]}, indent=1), flush=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
