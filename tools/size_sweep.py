"""Model size sweep (issue 17): feature resolution and width of the evidence-aware conv_onet,
each timed on the last-view -> mesh path (`occnet bench`'s evidence end-to-end: 5 views of the
bench chair, MISE 32 -> 128, post-processing) against the 0.5 s budget and, with --steps, scored
on the validation split after the same training budget from the same warm start.

Every variant starts from models/conv_onet_evidence.pt with `init_mode: matching` (tensors of
equal name and shape are copied): a plane-resolution change keeps every tensor (convolutions do not
depend on the plane size), a width change keeps almost none, so the wider variants' scores after a
short CPU budget are lower bounds. The network's own time (encode + decode of the query count MISE
needs on the bench chair) is measured for every variant; the whole path only for trained ones
(MISE refines more where untrained weights are undecided).

python -P tools/size_sweep.py [--steps 100] [--variants planes32,planes64,...] [--out docs/eval/size_sweep.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "config" / "train" / "conv_onet_evidence.yaml"
VARIANTS = {  # name -> model overrides of conv_onet_evidence.yaml
    "planes32_w32": {},
    "planes48_w32": {"plane_resolution": 48},
    "planes64_w32": {"plane_resolution": 64},
    "planes32_w64": {"latent_dim": 64, "encoder_hidden": 64, "decoder_hidden": 64},
    "planes64_w64": {"plane_resolution": 64, "latent_dim": 64, "encoder_hidden": 64, "decoder_hidden": 64},
}


def variant_config(name: str, steps: int, threads: int) -> dict:
    from occnet_ros.learn.config import load_config

    config = copy.deepcopy(load_config(BASE))
    config.pop("inherit_from", None)
    config["model"].update(VARIANTS[name])
    config["train"].update(out_dir=str(REPO / "runs" / "size_sweep" / name), init=str(REPO / "models" / "conv_onet_evidence.pt"),
                           init_mode="matching", lr=2e-4, lr_schedule="cosine", warmup_steps=min(20, steps // 5),
                           max_steps=max(steps, 1), validate_every=max(steps, 1), checkpoint_every=max(steps, 1), threads=threads)
    return config


QUERIES = 222_563  # points the shipped model's MISE 32 -> 128 evaluates on the bench chair (docs/eval/*/bench.json)


def network_seconds(model_config: dict, runs: int, threads: int) -> float:
    """Median seconds of the network alone on one object: encode 512 surface + 512 line-of-sight
    points, decode QUERIES points in the extractor's batches. Independent of the weights (MISE's
    query count is not: untrained weights are timed this way only)."""
    import torch

    from occnet_ros.model.occnet import ModelConfig, build_model

    torch.set_num_threads(threads)
    model = build_model(ModelConfig.from_dict(model_config)).eval()
    rng = np.random.default_rng(0)
    inputs, free = (torch.from_numpy(rng.uniform(-0.5, 0.5, (512, 3)).astype(np.float32)) for _ in range(2))
    queries = torch.from_numpy(rng.uniform(-0.55, 0.55, (QUERIES, 3)).astype(np.float32))
    times = []
    with torch.no_grad():
        for _ in range(runs + 1):
            start = time.perf_counter()
            fn = model.occupancy_function(inputs, free=free)
            for chunk in queries.split(100_000):
                fn(chunk)
            times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def time_variant(checkpoint: Path, runs: int, threads: int) -> dict:
    """Median / p90 seconds of the evidence end-to-end path at 128^3 on ``threads`` torch threads."""
    import torch

    from occnet_ros.complete.postprocess import postprocess
    from occnet_ros.complete.reconstruct import load_reconstructor
    from occnet_ros.evaluate.run import procedural_objects
    from occnet_ros.learn.records import RecordSpec, render_views
    from occnet_ros.learn.sources import item_rng

    torch.set_num_threads(threads)
    obj = next(procedural_objects(1, ["chair"]))
    spec = RecordSpec(views=10)
    rendered = render_views(obj.mesh, item_rng(obj.name, 0), spec, subsample=False)[:5]
    points = np.concatenate([v.points for v in rendered])
    views = [v.depth_view(spec.intrinsics) for v in rendered]
    reconstructor = load_reconstructor(checkpoint, "cpu")
    postprocess(reconstructor.reconstruct(points, views).mesh, seen=points)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        postprocess(reconstructor.reconstruct(points, views).mesh, seen=points)
        times.append(time.perf_counter() - start)
    return {"median_s": float(np.median(times)), "p90_s": float(np.percentile(times, 90)), "runs": runs, "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=0, help="training steps per variant (0: time only)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training and timing")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "eval" / "size_sweep.json")
    args = parser.parse_args()
    from occnet_ros.learn.train import train
    from occnet_ros.model.occnet import ModelConfig, build_model

    previous = json.loads(args.out.read_text()) if args.out.is_file() else {"variants": {}}
    results = previous["variants"]
    network_seconds(variant_config("planes32_w32", 0, args.threads)["model"], 1, args.threads)  # warm torch up first
    for name in args.variants.split(","):
        config = variant_config(name, args.steps, args.threads)
        parameters = sum(p.numel() for p in build_model(ModelConfig.from_dict(config["model"])).parameters())
        row = {"model": VARIANTS[name], "parameters": parameters, "megabytes_fp32": parameters * 4 / 1e6}
        row["network_s"] = network_seconds(config["model"], args.runs, args.threads)
        if args.steps:
            start = time.perf_counter()
            result = train(config)
            row.update(steps=args.steps, train_minutes=(time.perf_counter() - start) / 60, val_iou=result["best"]["iou"])
            row.update(time_variant(Path(config["train"]["out_dir"]) / "best.pt", args.runs, args.threads))
        elif name == "planes32_w32":  # the shipped size: its trained weights are the shipped model
            row.update(time_variant(REPO / "models" / "conv_onet_evidence.pt", args.runs, args.threads))
        results[name] = {**results.get(name, {}), **row}
        print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.machine(), "python": sys.version.split()[0], "variants": results}, indent=1))
    print(markdown(results))


def markdown(results: dict) -> str:
    """The sweep's table; the estimated time is the shipped size's measured end-to-end time with its
    network time replaced by the variant's (both measured in the same run)."""
    base = results.get("planes32_w32", {})
    lines = ["| variant | parameters | MB (fp32) | network s | last view -> mesh s (measured / estimated) | within 0.5 s | val IoU (steps) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if "median_s" in r:
            total = f"{r['median_s']:.3f} measured"
        elif "median_s" in base:
            r = {**r, "median_s": base["median_s"] - base["network_s"] + r["network_s"]}
            total = f"{r['median_s']:.3f} estimated"
        else:
            total = ""
        within = "" if not total else ("yes" if r["median_s"] < 0.5 else "no")
        iou = f"{r['val_iou']:.3f} ({r['steps']})" if "val_iou" in r else "not trained"
        lines.append(f"| {name} | {r['parameters']:,} | {r['megabytes_fp32']:.1f} | {r['network_s']:.3f} | {total} | {within} | {iou} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
