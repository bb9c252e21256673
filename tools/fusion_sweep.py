"""Size the evidence fusion by measurement: F@1% (all / observed / unobserved) of the evidence
path on the validation split for a few truncation and weight settings, same views for all.

    python tools/fusion_sweep.py [--per-category 1] [--views 3,5] [--categories chair,mug] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from occnet_ros.complete.reconstruct import load_reconstructor
from occnet_ros.evaluate.run import MethodRunner, procedural_objects, run_eval
from occnet_ros.learn.records import RecordSpec

VARIANTS = {
    "default": ({}, {}),
    "full_weight=3": ({}, {"full_weight": 3.0}),
    "truncation=2.5%": ({"truncation_fraction": 0.025}, {}),
    "truncation=6%": ({"truncation_fraction": 0.06}, {}),
    "min_free_views=1": ({"min_free_views": 1}, {}),
    # round 2, around the best of round 1
    "truncation=2.5%, full_weight=3": ({"truncation_fraction": 0.025}, {"full_weight": 3.0}),
    "truncation=1.5%, full_weight=3": ({"truncation_fraction": 0.015}, {"full_weight": 3.0}),
    "truncation=2.5%, full_weight=3, min_truncation=4mm": ({"truncation_fraction": 0.025, "min_truncation_m": 0.004}, {"full_weight": 3.0}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-category", type=int, default=1)
    parser.add_argument("--views", default="3,5")
    parser.add_argument("--categories", default="chair,table,mug,bottle,lamp,shelf,cabinet,monitor")
    parser.add_argument("--checkpoint")
    parser.add_argument("--variants", help="variant names separated by ; (default: all)")
    parser.add_argument("--json")
    args = parser.parse_args()
    views = [int(v) for v in args.views.split(",")]
    reconstructor = load_reconstructor(args.checkpoint)
    base_e, base_f = reconstructor.evidence, reconstructor.fusion
    rows = []
    chosen = args.variants.split(";") if args.variants else list(VARIANTS)
    for name in chosen:
        evidence, fusion = VARIANTS[name]
        reconstructor.evidence, reconstructor.fusion = replace(base_e, **evidence), replace(base_f, **fusion)
        records, _ = run_eval(procedural_objects(args.per_category, args.categories.split(","), split="val"), views, ["occnet"],
                              MethodRunner(RecordSpec(), reconstructor), samples=30_000)
        for count in views:
            sel = [r for r in records if r["views"] == count and r.get("fscore_1pct") is not None]
            row = {"variant": name, "views": count, "objects": len(sel)}
            for key in ("fscore_1pct", "fscore_1pct_observed", "fscore_1pct_unobserved", "fscore_2pct", "chamfer_l1"):
                row[key] = float(np.mean([r[key] for r in sel if r.get(key) is not None]))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
