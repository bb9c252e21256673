"""Write docs/benchmarks.md from the JSON files tools/run_benchmarks.sh produced (no hand-copied numbers)."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

from occnet_ros.core.evaluate import format_table, summarize

DOCS = Path("docs")


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def merged(models: list[str], name: str) -> list[dict]:
    """Records of one eval over all models; occnet rows renamed after their model."""
    records = []
    for model in models:
        for r in load(DOCS / "eval" / model / name):
            records.append({**r, "method": model if r["method"] == "occnet" else r["method"]})
    return records


def table(models: list[str], name: str) -> str:
    records = merged(models, name)
    if not records:
        return "(not run)"
    rows = summarize(records)
    order = {m: i for i, m in enumerate(models + ["tsdf", "poisson", "hull"])}
    rows.sort(key=lambda r: (r["views"], order.get(r["method"], 99)))
    return format_table(rows)


def bench_table(models: list[str]) -> str:
    lines = ["| model | stage | median s | p90 s | p99 s | ratio to dense 128^3 | points evaluated | IoU vs dense 128^3 |",
             "|---|---|---|---|---|---|---|---|"]
    machine = ""
    for model in models:
        for r in load(DOCS / "eval" / model / "bench.json"):
            machine = r.get("machine", machine)
            iou = r.get("iou_vs_dense128")
            p99 = f"{r['p99_s']:.4f}" if "p99_s" in r else ""
            lines.append(f"| {model} | {r['name']} | {r['median_s']:.4f} | {r['p90_s']:.4f} | {p99} | {r['ratio_to_dense128']:.3f} | "
                         f"{r.get('evaluated_points', '')} | {'' if iou is None else f'{iou:.3f}'} |")
    return "\n".join(lines) + (f"\n\nMachine: `{machine}`" if machine else "")


def main(models: list[str]) -> None:
    first = models[0]
    pictures = sorted((DOCS / "eval" / first / "test_5views").glob("*.png"))
    text = f"""# Benchmarks

Generated {datetime.date.today().isoformat()} by `tools/run_benchmarks.sh {' '.join(f'models/{m}.pt' for m in models)}`
then `python tools/benchmarks_md.py {' '.join(models)}`. Every method sees exactly the same simulated
HoloLens 2 long-throw views (ToF noise, dropouts, flying pixels) of each object. Metrics in each
ground truth's unit box: Chamfer-L1 (lower is better), F-score at 1% and 2% of the box, volumetric
IoU on 100k uniform points (only watertight outputs: TSDF and Poisson meshes from open3d are not
closed here, so they have none), input fidelity (share of input points within 1% of the output).
Time per object on this 2-core CPU (occnet: network + MISE 32->128 + post-processing).

## Held-out procedural objects (test split), 5 views

{table(models, "test_5views.json")}

## Category-free shapes no model was trained on ("primitives"), 5 views

{table(models, "unseen_5views.json")}

## Quality against the number of views (test split: one chair, table, mug, bottle and cabinet)

{table(models, "views.json")}

![F-score vs views](eval/{first}/views/fscore_vs_views.png)

## Validation split (model card numbers), 5 views

{table(models, "val_5views.json")}

## Pictures (input, reconstructions, ground truth)

{chr(10).join(f'![{p.stem}](eval/{first}/test_5views/{p.name})' for p in pictures if p.name != 'fscore_vs_views.png')}

## Timings (`occnet bench`, medians of 3 runs, ratios against the dense 128^3 grid of the same run)

Ratios compare paths measured side by side in one run. Absolute seconds depend on the machine
and its load (the two models' benches ran at the same time on the 2 cores). `iou_vs_dense128`
is the volumetric IoU of each mesh against the dense 128^3 mesh of the same model.

{bench_table(models)}
"""
    (DOCS / "benchmarks.md").write_text(text)
    print(f"wrote {DOCS / 'benchmarks.md'}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["conv_onet_procedural", "onet_procedural"])
