"""Write docs/benchmarks.md from the JSON files tools/run_benchmarks.sh and tools/run_finetune_study.sh
produced (no hand-copied numbers): python tools/benchmarks_md.py MODEL [MODEL ...] (first = shipped default)."""

from __future__ import annotations

import datetime
import json
import statistics
import sys
from pathlib import Path

from occnet_ros.evaluate.bench import LATENCY_PREFIX
from occnet_ros.evaluate.summary import format_table, summarize

DOCS = Path("docs")
MODELS = Path("models")
BASELINES = ("tsdf", "poisson", "hull")
PRIOR = " (prior only)"
SPLITS = {"unseen categories": "unseen_views.json", "foreign shapes": "foreign_views.json",
          "real furniture": "furniture_views.json", "validation": "val_views.json"}
SENSOR = "hololens2_long_throw"  # `SENSOR=... tools/run_benchmarks.sh`: the same splits through that sensor model
SENSOR_SPLITS = {label: f"{SENSOR}/{name}" for label, name in SPLITS.items()}


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def merged(models: list[str], name: str) -> list[dict]:
    """Records of one eval over all models; occnet rows renamed after their model (the evidence
    path), occnet_prior rows after the model plus PRIOR (the same model on the points alone)."""
    records = []
    for model in models:
        for r in load(DOCS / "eval" / model / name):
            method = {"occnet": model, "occnet_prior": model + PRIOR}.get(r["method"], r["method"])
            records.append({**r, "method": method})
    return records


def table(models: list[str], name: str) -> str:
    records = merged(models, name)
    if not records:
        return "(not run)"
    rows = summarize(records)
    order = {m: i for i, m in enumerate([x for m in models for x in (m, m + PRIOR)] + list(BASELINES))}
    rows.sort(key=lambda r: (r["views"], order.get(r["method"], 99)))
    return format_table(rows)


def rows_by_views(models: list[str], name: str) -> dict[int, tuple[dict[str, dict], dict | None]]:
    """Per number of views: the summary rows by method, and the baseline row with the best F@1% (None if no baseline ran)."""
    rows = summarize(merged(models, name))
    out = {}
    for views in sorted({r["views"] for r in rows}):
        at = {r["method"]: r for r in rows if r["views"] == views}
        baselines = [at[b] for b in BASELINES if b in at]
        out[views] = (at, max(baselines, key=lambda r: r["fscore_1pct"]) if baselines else None)
    return out


def rows_present(models: list[str], splits: dict[str, str]) -> list[str]:
    """Each model and its prior-only row, in that order, where any split holds records of it."""
    methods = {r["method"] for name in splits.values() for r in merged(models, name)}
    return [x for m in models for x in (m, m + PRIOR) if x in methods]


def ratio_table(models: list[str], splits: dict[str, str]) -> str:
    """F@1% of each model against the best classical baseline, per split and number of views."""
    lines = ["| split | views | " + " | ".join(f"{m} F@1%" for m in models) + " | best baseline F@1% | "
             + " | ".join(f"{m} / best baseline" for m in models) + " |",
             "|---|---|" + "---|" * (2 * len(models) + 1)]
    for label, name in splits.items():
        for views, (at, best) in rows_by_views(models, name).items():
            if best is None:
                continue
            scores = [at[m]["fscore_1pct"] if m in at else None for m in models]
            lines.append(f"| {label} | {views} | " + " | ".join("n/a" if s is None else f"{s:.3f}" for s in scores)
                         + f" | {best['fscore_1pct']:.3f} ({best['method']}) | "
                         + " | ".join("n/a" if s is None else f"{s / best['fscore_1pct']:.2f}x" for s in scores) + " |")
    return "\n".join(lines)


def previous_default_finetune(first: str, previous: str = "conv_onet_furniture") -> str:
    """The same study of the default before this one, where it was run."""
    if first == previous or not (DOCS / "eval" / f"finetune_{previous}").is_dir():
        return ""
    return f"\nThe same study of the previous default, {previous} (`tools/run_finetune_study.sh models/{previous}.pt 6`):\n\n" \
        + finetune_table(previous)


def finetune_table(model: str) -> str:
    tuned = load(DOCS / "eval" / f"finetune_{model}" / "unseen_views.json")
    if not tuned:
        return "(not run)"
    same_objects = DOCS / "eval" / f"finetune_{model}" / "zero_shot_views.json"
    if same_objects.is_file():  # the model before fine-tuning, on the study's own objects and views
        zero = {r["views"]: r for r in summarize(load(same_objects)) if r["method"] == "occnet"}
    else:  # the study fine-tuned the prior (points only): compare with the same model's prior-only rows
        zero = {r["views"]: r for r in summarize(load(DOCS / "eval" / model / "unseen_views.json")) if r["method"] == "occnet_prior"}
    lines = ["| views | CD-L1 zero-shot | CD-L1 fine-tuned | change | F@1% zero-shot | F@1% fine-tuned | IoU zero-shot | IoU fine-tuned |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summarize(tuned):
        z = zero.get(r["views"])
        if z is None:
            continue
        change = (r["chamfer_l1"] - z["chamfer_l1"]) / z["chamfer_l1"]
        lines.append(f"| {r['views']} | {z['chamfer_l1']:.4f} | {r['chamfer_l1']:.4f} | {change:+.0%} | {z['fscore_1pct']:.3f} | "
                     f"{r['fscore_1pct']:.3f} | {z['iou']:.3f} | {r['iou']:.3f} |")
    history = DOCS / "eval" / f"finetune_{model}" / "metrics.jsonl"
    if history.exists():
        record = json.loads(history.read_text().splitlines()[-1])
        lines.append(f"\nFine-tuning run: {record['step']} steps, {record['minutes']:.1f} min on this CPU, "
                     f"validation IoU {record['val_iou']:.3f} on the held-back fine-tuning meshes.")
    return "\n".join(lines)


def end_to_end_table(models: list[str]) -> str:
    lines = ["| model | input | grid | precision | torch threads | median s | p90 s |", "|---|---|---|---|---|---|---|"]
    for model in models:
        for r in load(DOCS / "eval" / model / "bench.json"):
            if r["name"].startswith("end_to_end_"):
                source = f"points + {r['views']} views (evidence)" if r.get("views") else "points (prior only)"
                if r.get("skip_known_free") is False:
                    source += ", network at every query"
                lines.append(f"| {model} | {source} | {r['resolution']}^3 | {r['precision']} | {r['threads']} | {r['median_s']:.3f} | "
                             f"{r['p90_s']:.3f} |")
    return "\n".join(lines) + "\n\n" + machines(models)


def latency_by_object_table(models: list[str]) -> str:
    """Last view -> mesh on one test object of every category (`occnet bench`'s latency_by_object records)."""
    lines = ["| model | object | views | torch threads | median s | reconstruction s | post-processing s | network queries | "
             "marching-cubes triangles |", "|---|---|---|---|---|---|---|---|---|"]
    for model in models:
        for r in load(DOCS / "eval" / model / "bench.json"):
            if r["name"].startswith(LATENCY_PREFIX):
                lines.append(f"| {model} | {r['object']} | {r['views']} | {r['threads']} | {r['median_s']:.3f} | "
                             f"{r['reconstruct_median_s']:.3f} | {r['postprocess_median_s']:.3f} | {r['network_points']} | "
                             f"{r['marching_cubes_triangles']} |")
    if len(lines) == 2:
        return "(no bench with per-object records yet)"
    return "\n".join(lines) + "\n\n" + machines(models)


def machines(models: list[str]) -> str:
    """Which machine timed each model: rows of different models compare only where it is the same CPU."""
    lines = ["Each model's rows come from its own `occnet bench` run (docs/eval/MODEL/bench.json); compare across"
             " models only where the CPU is the same:"]
    for model in models:
        records = load(DOCS / "eval" / model / "bench.json")
        if records:
            info = records[0].get("machine", {})
            cpu = info.get("cpu_model") or "CPU model not recorded (a run before benches named it)"
            lines.append(f"- {model}: {cpu}, {info.get('cpus', '?')} cores, torch {info.get('torch', '?')}")
    return "\n".join(lines)


def bench_table(models: list[str]) -> str:
    lines = ["| model | stage | median s | p90 s | p99 s | ratio to dense 128^3 | points evaluated | IoU vs dense 128^3 |",
             "|---|---|---|---|---|---|---|---|"]
    for model in models:
        for r in load(DOCS / "eval" / model / "bench.json"):
            if r["name"].startswith(("end_to_end_", LATENCY_PREFIX)):
                continue
            iou = r.get("iou_vs_dense128")
            p99 = f"{r['p99_s']:.4f}" if "p99_s" in r else ""
            lines.append(f"| {model} | {r['name']} | {r['median_s']:.4f} | {r['p90_s']:.4f} | {p99} | {r['ratio_to_dense128']:.3f} | "
                         f"{r.get('evaluated_points', '')} | {'' if iou is None else f'{iou:.3f}'} |")
    return "\n".join(lines) + "\n\n" + machines(models)


def targets(models: list[str]) -> str:
    """The evidence issue's targets, read from the same JSON files as the tables (first model)."""
    model, lines = models[0], []
    for label in ("unseen categories", "foreign shapes", "real furniture"):
        for views in (3, 5):
            at, best = rows_by_views(models, SPLITS[label]).get(views, ({}, None))
            if best is None or model not in at:
                continue
            mine = at[model]
            ratio = mine["fscore_1pct"] / best["fscore_1pct"]
            tsdf = at.get("tsdf", {})
            observed_ok = mine.get("fscore_1pct_observed") is not None and tsdf.get("fscore_1pct_observed") is not None \
                and mine["fscore_1pct_observed"] >= tsdf["fscore_1pct_observed"]
            baselines = [at[b] for b in BASELINES if b in at]
            f2_ok = all(mine["fscore_2pct"] > b["fscore_2pct"] for b in baselines)
            cd_ok = all(mine["chamfer_l1"] < b["chamfer_l1"] for b in baselines)
            def verdict(ok: bool) -> str:
                return "met" if ok else "**not met**"
            lines.append(
                f"- {label}, {views} views: F@1% {mine['fscore_1pct']:.3f} = {ratio:.2f}x the best baseline ({best['method']} "
                f"{best['fscore_1pct']:.3f}; target 1.3x: {verdict(ratio >= 1.3)}); observed part {_f(mine.get('fscore_1pct_observed'))} "
                f"vs TSDF {_f(tsdf.get('fscore_1pct_observed'))} ({verdict(observed_ok)}); F@2% and CD-L1 better than every "
                f"baseline: {verdict(f2_ok)} / {verdict(cd_ok)}.")
    closed = [r for name in SPLITS.values() for r in load(DOCS / "eval" / model / name) if r["method"] == "occnet" and "watertight" in r]
    if closed:
        lines.append(f"- Every output closed: {sum(r['watertight'] for r in closed)} of {len(closed)} {model} meshes watertight.")
    times = [r for r in load(DOCS / "eval" / model / "bench.json") if r["name"].startswith("end_to_end_128_evidence")
             and r.get("skip_known_free", True)]
    if times:
        fastest = min(times, key=lambda r: r["median_s"])
        lines.append(f"- Last view to published mesh at 128^3-equivalent, evidence and fusion included, under 0.5 s: "
                     f"{fastest['median_s']:.3f} s ({fastest['threads']} threads) on the bench chair, "
                     f"{'met' if fastest['median_s'] < 0.5 else '**not met**'}.")
    by_object = [r for r in load(DOCS / "eval" / model / "bench.json") if r["name"].startswith(LATENCY_PREFIX)]
    if by_object:
        slowest = max(by_object, key=lambda r: r["median_s"])
        within = sum(r["median_s"] < 0.5 for r in by_object)
        lines.append(f"- The same on one test object of each of {len(by_object)} categories (5 views, {by_object[0]['threads']} threads): "
                     f"median {statistics.median(r['median_s'] for r in by_object):.3f} s, under 0.5 s on {within} of {len(by_object)}, "
                     f"slowest {slowest['object']} {slowest['median_s']:.3f} s ({slowest['postprocess_median_s']:.3f} s of it "
                     f"post-processing); under 0.5 s on every object: {'met' if within == len(by_object) else '**not met**'}.")
    frame = frame_record("observation_frame_long_throw_320x288_5_instances")
    if frame:
        after = frame["after_wall"]["median_ms"]
        lines.append(f"- Observation frame (320x288 long throw, 5 instances, `occnet bench`'s measurement) at most 10 ms: "
                     f"{after:.1f} ms (was {frame['before_wall']['median_ms']:.1f} ms side by side), {'met' if after <= 10 else '**not met**'}.")
    lines += shape_prior_targets(model)
    return "\n".join(lines) or "(not run)"


# the models whose rows were measured with 4 input resamplings and max_handles (the others: one draw, before both)
ENSEMBLED = ("conv_onet_furniture_long", "conv_onet_furniture")
# the shipped model when the shape-prior issue (17) was filed, on points alone: its "today's"
FILED_PRIOR = ("conv_onet_procedural", "occnet_prior")


def mean_at(path: Path, method: str, views: int, key: str) -> float | None:
    """Mean of one metric over a split's objects for one method and view count (None where absent)."""
    row = next((r for r in summarize(load(path)) if r["method"] == method and r["views"] == views), None)
    return row[key] if row else None


def shape_prior_targets(model: str) -> list[str]:
    """The shape-prior issue's targets beyond the F@1% ratios: unobserved part, validation IoU, size."""
    lines = []
    for label in ("unseen categories", "foreign shapes"):
        mine = mean_at(DOCS / "eval" / model / SPLITS[label], "occnet", 5, "fscore_1pct_unobserved")
        then = mean_at(DOCS / "eval" / FILED_PRIOR[0] / SPLITS[label], FILED_PRIOR[1], 5, "fscore_1pct_unobserved")
        if mine is not None and then:
            lines.append(f"- {label}, 5 views: F@1% on the unobserved part {mine:.3f} = {mine / then:.2f}x that of the model "
                         f"shipped when the shape-prior issue was filed ({FILED_PRIOR[0]}, points alone, {then:.3f}, same objects; "
                         f"target 2x: {'met' if mine >= 2 * then else '**not met**'}).")
    checkpoint = MODELS / f"{model}.pt"
    if checkpoint.is_file():
        megabytes = checkpoint.stat().st_size / 1e6
        lines.append(f"- Default checkpoint under 20 MB: {megabytes:.1f} MB, {'met' if megabytes < 20 else '**not met**'}.")
    best = best_validation_iou()
    if best:
        lines.append(f"- Validation IoU at least 0.80: the best of any committed run on its own validation records {best[0]:.3f} ({best[1]}), "
                     f"{'met' if best[0] >= 0.8 else '**not met**'}.")
    return lines


def best_validation_iou() -> tuple[float, str] | None:
    """The highest training-validation IoU in the committed curves (models/*.metrics.jsonl) and its run."""
    best = None
    for curve in sorted(MODELS.glob("*.metrics.jsonl")):
        for line in curve.read_text().splitlines():
            record = json.loads(line)
            if record.get("val_iou") is not None and (best is None or record["val_iou"] > best[0]):
                best = (record["val_iou"], f"{curve.name.removesuffix('.metrics.jsonl')} step {record['step']:,}")
    return best


def frame_record(name: str) -> dict | None:
    path = DOCS / "eval" / "observation_frame.json"
    records = json.loads(path.read_text())["records"] if path.is_file() else []
    return next((r for r in records if r["name"] == name), None)


def frame_section(path: Path | None = None) -> str:
    """The observation frame before/after, from docs/eval/observation_frame.json (tools/frame_bench.py); empty without it."""
    path = path or DOCS / "eval" / "observation_frame.json"
    if not path.is_file():
        return ""
    run = json.loads(path.read_text())
    rows = "\n".join(
        f"| {r['name']} | {r['before_wall']['median_ms']:.1f} / {r['before_wall']['p90_ms']:.1f} | "
        f"{r['after_wall']['median_ms']:.1f} / {r['after_wall']['p90_ms']:.1f} | {r['before_cpu']['median_ms']:.1f} | "
        f"{r['after_cpu']['median_ms']:.1f} | {r['speedup_wall']:.2f}x | {r['frames']} |" for r in run["records"])
    return f"""
## Observation frame, before and after (`python -P tools/frame_bench.py --before-rev {run['before']}`, one run)

`occnet bench`'s observation frame (raw buffers to views stored, one thread: decode, split by
instance, outlier removal, downsampling, largest group, depth crops, association) of {run['before']}
and {run['after']}, each in its own process, in {run['rounds']} interleaved rounds of
{run['frames_per_round']} frames, so both saw the same load: {run['cpus']} CPUs, 1-minute load average
{run['load_average_1min'][0]} at the start and {run['load_average_1min'][1]} at the end (other
jobs shared the machine). The stage table above is from the last full `occnet bench` run, which may
predate these revisions.

| frame | before ms (median / p90) | after ms (median / p90) | before CPU ms | after CPU ms | speed-up | frames each |
|---|---|---|---|---|---|---|
{rows}
"""


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def pictures(model: str, report: str) -> str:
    paths = sorted((DOCS / "eval" / model / report).glob("*.png"))
    return "\n".join(f"![{model} {p.stem}](eval/{model}/{report}/{p.name})" for p in paths if p.name != "fscore_vs_views.png")


def sensor_section(models: list[str]) -> str:
    """The four splits again, rendered with the HoloLens 2 long-throw sensor model."""
    ran = [m for m in models if any((DOCS / "eval" / m / name).exists() for name in SENSOR_SPLITS.values())]
    if not ran:
        return ""
    tables = "\n\n".join(f"### {label}\n\n{table(ran, name)}" for label, name in SENSOR_SPLITS.items())
    return f"""## Sensor-true inputs: the same splits through the HoloLens 2 long-throw sensor model

`SENSOR={SENSOR} tools/run_benchmarks.sh ...` (`occnet eval --sensor {SENSOR}`): the same objects and
camera poses, with every effect of docs/sensor_model.md on (flying pixels on all depth edges, grazing
and dark-surface dropouts, multipath, a mask that bleeds onto the rendered table and floor or erodes
by up to 2 px, 3 mm / 0.5 deg of pose error per view), each view's points cleaned as the observation
node cleans them. Baselines see the same depth, masks and poses.

{ratio_table(rows_present(ran, SENSOR_SPLITS), SENSOR_SPLITS)}

{tables}"""


def object_count(model: str, name: str) -> int:
    """How many objects one model's eval file holds."""
    return len({r["object"] for r in load(DOCS / "eval" / model / name)})


def main(models: list[str]) -> None:
    first = models[0]
    ensembled = [m for m in models if m in ENSEMBLED]
    furniture_count, foreign_count, unseen_count = (object_count(first, name) for name in
                                                    ("furniture_views.json", "foreign_views.json", "unseen_views.json"))
    text = f"""# Benchmarks

Generated {datetime.date.today().isoformat()} by `tools/run_benchmarks.sh {' '.join(f'models/{m}.pt' for m in models)}`,
`tools/run_finetune_study.sh models/conv_onet_procedural.pt` and `python tools/benchmarks_md.py {' '.join(models)}`.
Every method sees exactly the same simulated HoloLens 2 long-throw views (ToF noise, dropouts,
flying pixels) of each object. A model's row is its **evidence path** (the default everywhere:
the views' TSDF and free space fused with the learned prior, complete/fusion.py); the row
"(prior only)" is the same model given the points alone, as before the evidence issue. The
training configs hold **bowl and sofa out entirely** (unseen categories) and never use the
pybullet wheel's objects 950-999 (foreign shapes); conv_onet_furniture and its continuation
conv_onet_furniture_long also train on the furniture package's training split, never on its test split
(real furniture), and on all 900 pybullet training objects with mirrored and stretched examples
(config/train/conv_onet_furniture.yaml, config/train/conv_onet_furniture_long.yaml). The classical
baselines and the "(prior only)" rows come from the runs that made them on the same objects and views (the first
run of each split); every other model ran with `BASELINES=0` (its own rows only). Metrics in each ground truth's unit box:
Chamfer-L1 (lower is better), F-score at 1% and 2% of the box, F@1% on the observed part of the
ground-truth surface (within 2% of the box from an input point) and on the rest, volumetric IoU
on 100k uniform points (only watertight outputs: TSDF and Poisson meshes from open3d are not
closed here, so they have none), input fidelity (share of input points within 1% of the box
from the output mesh). Time per object on this 2-core CPU while other evaluations shared it
(occnet: network + evidence + MISE 32->128 + post-processing to <= 5,000 triangles).
Fusion settings were chosen by `tools/fusion_sweep.py` on the validation split
(docs/eval/fusion_sweep_round*.json), re-sized for the default on 2026-12-07 (fusion gain 6 -> 9) when
mirror symmetry joined the reconstruction (the views mirrored about the vertical plane they support, where
one passes: complete/symmetry.py; both chosen on the validation splits, models/README.md, "Mirror
symmetry"): conv_onet_furniture_long's rows are measured with both and with the mirror plane placed by ICP (since
late 2026-12-07, its sensor-true rows re-run then too: models/README.md, "The mirror plane placed by ICP"), every other
model's rows before them (gain 6, no symmetry). {' and '.join(m + "'s" for m in ensembled)} rows, bench included, encode 4
random input resamplings and average them (the reconstruction's default since 2026-12-07, chosen on the validation
splits by `tools/validation_study.py`, models/README.md; conv_onet_furniture's one-draw bench is
docs/eval/conv_onet_furniture/bench_one_draw.json), except conv_onet_furniture's fine-tuning figures, measured before
with one draw; every other model's rows are one draw (`RESAMPLINGS=1`), as they were measured before the ensembling.
They are also the only rows measured with surfaces of more than 50 handles closed before marching cubes
(`max_handles`, since 2026-12-07, models/README.md "Topological noise"); their sensor-true rows cover the first
3 + 3 unseen and 6 foreign objects, as the sensor-true baselines do (`UNSEEN_PER_CATEGORY=3 FOREIGN_LIMIT=6`).

## Targets

{targets(models)}

## Summary: F@1% against the best classical baseline

{ratio_table(rows_present(models, SPLITS), SPLITS)}

## Unseen categories ({unseen_count} test shapes of bowl and sofa, never seen in training), 1/3/5/10 views

{table(models, "unseen_views.json")}

![F-score vs views, unseen categories](eval/{first}/unseen_views/fscore_vs_views.png)

## Shapes the generator did not make ({foreign_count} of the pybullet wheel's held-out test objects, 950-999), 1/3/5/10 views

{table(models, "foreign_views.json")}

![F-score vs views, foreign shapes](eval/{first}/foreign_views/fscore_vs_views.png)

## Real indoor furniture (the Debian sweethome3d-furniture test split, {furniture_count} models never trained on), 3/5 views

Modelled furniture at its catalogue size (4 cm to 2.2 m), closed by filled voxels
(learn/furniture.py); sofas and bowls are not in it (they stay unseen categories).

{table(models, "furniture_views.json")}

## Validation split (one shape of each training category and one primitive composition), 1/3/5/10 views

{table(models, "val_views.json")}

![F-score vs views, validation](eval/{first}/val_views/fscore_vs_views.png)

{sensor_section(models)}

## Fine-tuning on the deployment's objects (conv_onet_procedural, prior only)

`occnet train --init models/conv_onet_procedural.pt --meshes data/finetune_unseen`: 5 training-seed shapes each
of bowl and sofa (4 to train, 1 to validate per category), then the same unseen test shapes and
views as above. "zero-shot" is the same model's prior only (the path the study fine-tuned), over
the {unseen_count} unseen shapes evaluated now; the fine-tuned figures are the study's (its 4 + 4 shapes).

{finetune_table("conv_onet_procedural")}

## Fine-tuning the default ({first}, evidence path)

`tools/run_finetune_study.sh models/{first}.pt 6`: the same 5 + 5 training-seed meshes (4 + 4 to train),
6 minutes on one CPU thread (another run shared the other core); zero-shot is the shipped model
on the study's own 4 + 4 unseen test shapes and views, evaluated in the same session
(`zero_shot_views.json`).

{finetune_table(first)}
{previous_default_finetune(first)}

## Pictures (input, reconstructions with the evidence and with the prior only, baselines, ground truth)

{pictures(first, "unseen_views")}

{pictures(first, "foreign_views")}

{pictures(first, "furniture_views")}

{chr(10).join(pictures(m, "unseen_views") for m in models[1:])}

## Last view to published mesh (`occnet bench`: canonical input, network + MISE, post-processing)

{end_to_end_table(models)}

The bench chair is one object; the same path on one test object of every category (`occnet bench`'s
latency_by_object records; post-processing is open3d's quadric decimation of the marching-cubes mesh to
5,000 triangles, which grows with the surface: thin walls give both sides):

{latency_by_object_table(models)}

## Extraction and pipeline stages (`occnet bench --runs N`: medians of N runs, 10N per-frame; ratios to the dense 128^3 grid of the run)

Ratios compare paths measured side by side in one run. Absolute seconds depend on the machine
and its load. `iou_vs_dense128` is the volumetric IoU of each mesh against the dense 128^3 mesh
of the same model.

{bench_table(models)}
""" + replay_latency_section() + frame_section() + load_section()
    (DOCS / "benchmarks.md").write_text(text)
    print(f"wrote {DOCS / 'benchmarks.md'}")


def replay_latency_section(path: Path | None = None) -> str:
    """The bag-replay latency section from docs/eval/replay_latency.json (tools/replay_latency.py); empty without it."""
    path = path or DOCS / "eval" / "replay_latency.json"
    if not path.is_file():
        return ""
    run = json.loads(path.read_text())
    names = {"last_view_to_mesh_s": "last view -> mesh (probe: mesh arrival - arrival of its newest depth frame)",
             "total_s": "StageTimings.total_s (request -> message, incl. queueing)", "encode_s": "StageTimings.encode_s",
             "extract_s": "StageTimings.extract_s (evidence + MISE + marching cubes)", "postprocess_s": "StageTimings.postprocess_s"}
    rows = "\n".join(f"| {label} | {run[key]['median']:.3f} | {run[key]['p90']:.3f} | {run[key]['max']:.3f} |"
                      for key, label in names.items() if run.get(key))
    return f"""
## Latency a user sees: a recording replayed through `ros2 launch` (`python -P tools/replay_latency.py`, one run)

`occnet record` (simulator, {run['frames']} frames at 5 Hz, {run['objects']} objects + a transparent glass, seed {run['seed']})
replayed at rate {run['rate']} with `ros2 launch occnet_ros reconstruct.launch.py bag:=...`: {', '.join(run['processes'])}
each in its own process, no simulator competing for the {run['cpus']} cores. A probe node records when each depth frame and
each RECONSTRUCTED mesh arrives; {run['meshes_matched']} meshes of {run['objects_seen']} objects
were matched to their newest view. Beside it, the `occnet bench` figure above is the model's alone (one object, no queue).

| per mesh | median s | p90 s | max s |
|---|---|---|---|
{rows}
"""


def load_section(path: Path | None = None) -> str:
    """The "Load" section from docs/eval/load_bench.json (tools/load_bench.py); empty without it."""
    path = path or DOCS / "eval" / "load_bench.json"
    if not path.is_file():
        return ""
    runs = json.loads(path.read_text())["runs"]
    rows = "\n".join(
        f"| {r['rate_hz']:.0f} | {r['seconds']:.0f} | {r['published']} ({r['publish_rate_hz']:.0f} Hz achieved) | {r['frames_processed']} | "
        f"{r['frames_dropped']} | {r['drop_rate']:.1%} | {', '.join(f'{k} {v}' for k, v in sorted(r['counts'].items()) if v and k in LOSS_KEYS)} | "
        f"{r['frame_ms_median']:.0f} / {r['frame_ms_p90']:.0f} | {r['rss_mb_start']:.0f} -> {r['rss_mb_max']:.0f} |"
        for r in runs)
    return f"""
## Load: the observation node flooded (`python -P tools/load_bench.py`, one run)

The two-object scene (320x288 long-throw frames, 2 instances) published on loopback at a fixed
rate by a publisher in the node's own process (so the publisher and the node share the GIL and,
here, 2 busy CPU cores). Every published frame is processed or counted under a reason
(`processed + dropped = published`); the node counts what never reached it from the publisher's
sequence numbers. With `skip_stale_frames` the node processes the newest frame and counts the
older ones as `stale_frame`. The node runs as `observation_node` does: a single-threaded executor
for the inputs, frames on the node's worker thread. Before that change (9717e1e, same machine and
day, frames processed in a callback of rclpy's multi-threaded executor, which then spun one core at
94%), the same flood at 30 Hz reached the node at 22 Hz and lost 94% of its frames (285 ms a frame);
at 100 Hz 97% (245 ms).

| rate (Hz) | seconds | published | processed | dropped | drop rate | where lost | frame ms (median / p90) | RSS MB (start -> max) |
|---|---|---|---|---|---|---|---|---|
{rows}
"""


LOSS_KEYS = {"sequence_gap", "sync_unmatched", "sync_queue_overflow", "sync_out_of_order", "pose_queue_full", "stale_frame",
             "pose_unavailable"}


if __name__ == "__main__":
    main(sys.argv[1:] or ["conv_onet_procedural", "onet_procedural"])
