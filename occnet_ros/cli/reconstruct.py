"""`occnet reconstruct`: the extraction flags and the reconstructor they configure."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def add_extraction_args(parser: argparse.ArgumentParser) -> None:
    """The model and MISE flags shared by reconstruct, eval and bench."""
    parser.add_argument("--checkpoint", type=Path, help="model file (default: the shipped one)")
    parser.add_argument("--resolution0", type=int, default=32, help="MISE coarse grid cells per axis")
    parser.add_argument("--upsampling-steps", type=int, default=2, help="MISE refinements (final = resolution0 * 2^steps)")
    parser.add_argument("--refine-margin", type=float, default=3.0, help="MISE also refines cells this many logits below the level")
    parser.add_argument("--threshold", type=float, help="occupancy threshold (default: the checkpoint's)")
    parser.add_argument("--max-handles", type=int,
                        help="a surface with more handles is closed (one-cell gaps, voids) and extracted again "
                             "(default: the extraction's, 50; -1: never)")
    parser.add_argument("--input-resamplings", type=int,
                        help="random input subsets whose encodings are averaged (default: the reconstruction's, 4; 1 = one draw)")
    parser.add_argument("--fusion-gain", type=float, help="logits from the level at the edge of the TSDF band (default: the fusion's, 9)")
    parser.add_argument("--full-weight", type=float, help="evidence weight (views) at which the views' TSDF alone decides (default: the fusion's, 3)")
    parser.add_argument("--truncation-fraction", type=float, help="TSDF band half-width, a fraction of the object's size (default: the evidence's, 0.025)")
    parser.add_argument("--min-truncation", type=float,
                        help="the TSDF band's half-width is never under this, metres (default: the evidence's, 0.006)")
    parser.add_argument("--symmetry", choices=["on", "off"],
                        help="fuse the views mirrored about the vertical plane they support, if any (default: the reconstruction's, on)")
    parser.add_argument("--mirror-second", choices=["on", "off"],
                        help="where a mirror plane holds, also try the plane square to it (default: the reconstruction's, on)")
    parser.add_argument("--revolution", choices=["on", "off"],
                        help="fuse the views turned about the vertical axis of revolution they support, if any "
                             "(default: the reconstruction's, off)")
    for name, moved, candidate, icp in (("mirror", "reflected", "a mirror plane", 3), ("revolution", "rotated", "an axis", 5)):
        parser.add_argument(f"--{name}-max-contradiction", type=float,
                            help=f"most {moved} points {candidate} may put in known-free space (default: the reconstruction's, 0.015)")
        parser.add_argument(f"--{name}-min-support", type=float,
                            help=f"fewest {moved} points that must land on observed surface (default: the reconstruction's, 0.5)")
        parser.add_argument(f"--{name}-icp", type=int,
                            help=f"point-to-plane ICP iterations placing {candidate} after the grid search "
                                 f"(default: the reconstruction's, {icp}; 0: the grid's)")
        parser.add_argument(f"--{name}-icp-pairing", choices=["facing", "nearest"],
                            help=f"the ICP placing {candidate} pairs a {moved[:-2]} point with the nearest seen point that faces "
                                 "the same way (facing: a thin wall's other side never) or with the nearest one "
                                 "(default: the reconstruction's, nearest)")
    parser.add_argument("--revolution-copies", type=int,
                        help="places around the axis the views are copied to, theirs included (default: the reconstruction's, 6)")
    parser.add_argument("--revolution-input", choices=["on", "off"],
                        help="the turned points join the network's input too (default: the reconstruction's, on)")
    parser.add_argument("--copies-tsdf", choices=["fill", "average"],
                        help="symmetric copies' TSDF only where no view observed (fill) or averaged with the views' "
                             "(default: the evidence's, average)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch CPU threads")


def reconstructor_from_args(args: argparse.Namespace, point_only: bool = False):
    """The Reconstructor that the extraction flags of ``add_extraction_args`` ask for (without
    --checkpoint: the shipped default, or the point-only model for clouds without views)."""
    import torch

    from occnet_ros.complete.reconstruct import load_reconstructor

    if args.threads:
        torch.set_num_threads(args.threads)
    handles = {} if args.max_handles is None else {"max_handles": None if args.max_handles < 0 else args.max_handles}
    reconstructor = load_reconstructor(args.checkpoint, args.device, args.resolution0, args.upsampling_steps, args.threshold,
                                       args.refine_margin, point_only=point_only, input_resamplings=args.input_resamplings, **handles)
    apply_evidence_args(reconstructor, args)
    return reconstructor


def apply_evidence_args(reconstructor, args: argparse.Namespace) -> None:
    """Override the evidence, fusion and symmetry settings the flags name (validated: a bad value
    raises ValueError)."""
    reconstructor.fusion = _override(reconstructor.fusion, gain=args.fusion_gain, full_weight=args.full_weight)
    if reconstructor.evidence is not None:
        reconstructor.evidence = _override(reconstructor.evidence, truncation_fraction=args.truncation_fraction,
                                           min_truncation_m=args.min_truncation, copies_fill_only=_switch(args.copies_tsdf, "fill"))
    reconstructor.symmetry = _override(reconstructor.symmetry, max_contradiction=args.mirror_max_contradiction,
                                       min_support=args.mirror_min_support, icp_iterations=args.mirror_icp,
                                       icp_facing=_switch(args.mirror_icp_pairing, "facing"), second_plane=_switch(args.mirror_second),
                                       enabled=_switch(args.symmetry))
    reconstructor.revolution = _override(reconstructor.revolution, max_contradiction=args.revolution_max_contradiction,
                                         min_support=args.revolution_min_support, copies=args.revolution_copies,
                                         turned_input=_switch(args.revolution_input), icp_iterations=args.revolution_icp,
                                         icp_facing=_switch(args.revolution_icp_pairing, "facing"), enabled=_switch(args.revolution))


def _switch(value: str | None, on: str = "on") -> bool | None:
    """A two-way flag's value as a bool (None: not given)."""
    return None if value is None else value == on


def _override(settings, **values):
    """``settings`` (a frozen dataclass with ``validate``) with the values given (not None) replaced, validated."""
    given = {name: value for name, value in values.items() if value is not None}
    if not given:
        return settings
    updated = replace(settings, **given)
    updated.validate()
    return updated


def read_input(path: Path, up: str):
    """(points, views) of the input: a views file (.npz with ``depth``) gives both, any point
    cloud file points and no views. Views files are z-up by definition."""
    import numpy as np

    from occnet_ros.geometry.files import read_points
    from occnet_ros.geometry.views import is_views_file, read_views

    if not is_views_file(path):
        return read_points(path, up), None
    if up != "z":
        raise ValueError(f"{path}: a views file is in a z-up world by definition; drop --up {up}")
    views = read_views(path)
    return np.concatenate([view.points() for view in views]), views


def cmd_reconstruct(args: argparse.Namespace) -> int:
    import sys

    import numpy as np

    from occnet_ros.complete.postprocess import PostprocessSettings, postprocess

    points, views = read_input(args.input, args.up)
    non_finite = int((~np.isfinite(points).all(axis=1)).sum())
    if non_finite:
        print(f"{args.input}: dropped {non_finite} of {len(points)} points with NaN/inf coordinates "
              f"({len(points) - non_finite} left)", file=sys.stderr)
    reconstructor = reconstructor_from_args(args, point_only=views is None or args.no_evidence)
    if args.no_evidence:
        reconstructor.evidence = None
    result = reconstructor.reconstruct(points, views)
    mesh = result.mesh
    if not args.no_postprocess:
        mesh = postprocess(mesh, PostprocessSettings(max_triangles=args.max_triangles), seen=points[np.isfinite(points).all(axis=1)]).mesh
    if args.up == "y":  # back to the input's convention
        mesh.vertices = mesh.vertices[:, [0, 2, 1]] * [1.0, 1.0, -1.0]
        mesh.invert()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(args.out)
    print(
        f"{args.input}: {result.input_points} points, {result.views_used} views fused"
        f"{f' ({result.views_dropped} behind the camera, dropped)' if result.views_dropped else ''} -> "
        f"{args.out}: {len(mesh.faces)} triangles, "
        f"watertight={mesh.is_watertight}, {sum(result.timings.values()):.2f} s"
    )
    return 0
