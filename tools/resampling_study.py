"""How many input resamplings the reconstruction should average (test-time ensembling), chosen on
the validation splits only (never the test splits the benchmarks report).

The network encodes ``input_points`` (512) of an object's cloud of thousands, so one random draw
decides which points it sees; the reconstruction can encode K draws and average the feature maps
(``Reconstructor(input_resamplings=K)``, `--input-resamplings`, the node's `input_resamplings`).
This runs `occnet eval` on each validation split for each K and writes, per split and number of
views, the mean F@1% (whole surface and unobserved part) and the mean per-object difference to
K = 1 with its standard error:

    python -P tools/resampling_study.py --checkpoint models/conv_onet_furniture.pt --resamplings 1,4,8,16 \
        --json docs/eval/resampling_study.json

Timings are `occnet bench`'s job (end_to_end records), not this study's: its evaluations share the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

# the validation splits: procedural shapes (one per training category), the pybullet wheel's
# validation objects (900-949) and the furniture package's validation split
SPLITS = {
    "procedural": ["--split", "val", "--per-category", "1"],
    "pybullet": ["--split", "val", "--foreign", "--limit", "16"],
    "furniture": ["--split", "val", "--foreign", "furniture"],
}


def run_eval(checkpoint: Path, split_args: list[str], views: str, resamplings: int, out: Path) -> list[dict]:
    """`occnet eval` records of one split with K resamplings (kept in ``out`` to resume a study)."""
    if not out.exists():
        command = [sys.executable, "-P", "-m", "occnet_ros.cli", "eval", "--checkpoint", str(checkpoint), *split_args,
                   "--views", views, "--methods", "occnet", "--surface-samples", "50000",
                   "--input-resamplings", str(resamplings), "--json", str(out)]
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
    parser.add_argument("--checkpoint", type=Path, default=Path("models/conv_onet_furniture.pt"))
    parser.add_argument("--resamplings", default="1,4,8,16", help="K values; the first is the reference")
    parser.add_argument("--views", default="3,5")
    parser.add_argument("--work", type=Path, default=Path("runs/resampling_study"), help="where each eval's records are kept")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    ks = [int(k) for k in args.resamplings.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    result = {"checkpoint": str(args.checkpoint), "reference": ks[0], "splits": {}}
    for split, split_args in SPLITS.items():
        records = {k: run_eval(args.checkpoint, split_args, args.views, k, args.work / f"{split}_k{k}.json") for k in ks}
        result["splits"][split] = {
            f"{views} views": {f"K={k}": {key: paired(records[ks[0]], records[k], views, key)
                                          for key in ("fscore_1pct", "fscore_1pct_unobserved")} for k in ks[1:]}
            for views in (int(v) for v in args.views.split(","))}
        print(json.dumps({split: result["splits"][split]}, indent=1), flush=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
