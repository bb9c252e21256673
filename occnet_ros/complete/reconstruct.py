"""Point cloud (and the depth views it came from) in the world (metres, z up) -> watertight mesh.

The cloud is put into the network's canonical box (gravity aligned, yaw from PCA, centred
and scaled as in training), encoded once (with line-of-sight points from the views when the
model takes them), the decoder folded for that code; with views, the model's logits are fused
with the views' evidence (complete/fusion.py: TSDF where observed, crossed space empty, the
prior elsewhere), and where the views support a vertical mirror plane the mirrored views join
them (complete/symmetry.py); the surface is extracted with MISE and the mesh mapped back to the world.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from occnet_ros.complete.evidence import EvidenceField, EvidenceSettings
from occnet_ros.complete.extract import ExtractionSettings, extract_mesh, surface_level
from occnet_ros.complete.fusion import FusionSettings, fuse_logits, model_needed
from occnet_ros.complete.symmetry import (
    MirrorPlane,
    RevolutionSettings,
    SymmetrySettings,
    find_mirror_plane,
    find_revolution_axis,
    mirror_view,
    revolved_views,
    turn_angles,
)
from occnet_ros.geometry.frames import BOX_HALF, CanonicalFrame, DegenerateCloudError, finite_points, resample
from occnet_ros.geometry.views import LINE_OF_SIGHT_OFFSETS, DepthView, camera_directions, line_of_sight_samples
from occnet_ros.model.checkpoint import LoadedModel, default_checkpoint, load_checkpoint, pick_device

MIN_INPUT_POINTS = 10
LINE_OF_SIGHT_POINTS_PER_VIEW = 2000  # observed points per view that line-of-sight samples start from
# Random input subsets whose encodings are averaged (test-time ensembling; the model sees
# input_points of a cloud of thousands, and one subset's draw moves F@1% by about 0.03-0.05 per
# object). Chosen on the validation splits: tools/validation_study.py, models/README.md.
INPUT_RESAMPLINGS = 4


@dataclass
class Reconstruction:
    mesh: trimesh.Trimesh  # world frame
    frame: CanonicalFrame  # canonical box -> world
    input_points: int  # finite points received
    evaluated_points: int  # occupancy values the extraction asked for
    timings: dict[str, float] = field(default_factory=dict)
    views_used: int = 0  # depth views whose evidence was fused
    views_dropped: int = 0  # views that saw the object's centre from behind the camera
    network_points: int = 0  # of evaluated_points, those the network decoded (the rest: known free)
    mirrored_points: int = 0  # reflected or rotated points added to the input with the symmetric views (0: none)
    symmetry: str = ""  # the symmetry the views supported: "revolution", "mirror", "mirror2" (two square planes) or ""


class ReconstructionCancelled(RuntimeError):
    """The reconstructor's ``cancel`` event was set while a reconstruction ran."""


class Reconstructor:
    """Reconstructs clouds with one loaded model; not thread-safe (use one per worker).

    Setting ``cancel`` (a threading.Event) stops a running reconstruction at its next batch of
    queries with ReconstructionCancelled: a node that shuts down does not wait out a mesh."""

    def __init__(
        self,
        loaded: LoadedModel,
        extraction: ExtractionSettings | None = None,
        fold: bool = True,
        use_mise: bool = True,
        seed: int = 0,
        bf16: bool = False,
        evidence: EvidenceSettings | None = EvidenceSettings(),
        fusion: FusionSettings = FusionSettings(),
        input_resamplings: int = INPUT_RESAMPLINGS,
        symmetry: SymmetrySettings = SymmetrySettings(),
        revolution: RevolutionSettings = RevolutionSettings(),
    ) -> None:
        if input_resamplings < 1:
            raise ValueError(f"input_resamplings must be at least 1, got {input_resamplings}")
        self.loaded = loaded
        self.input_resamplings = input_resamplings
        self.evidence = evidence  # None: the prior alone, even when views are given
        self.fusion = fusion
        self.symmetry = symmetry  # used only with views and evidence: the views test the plane
        self.revolution = revolution  # likewise (off by default); tried before the mirror (it implies one)
        self.bf16 = bf16
        self.extraction = extraction or ExtractionSettings(threshold=loaded.settings.threshold)
        self.fold = fold
        self.use_mise = use_mise
        self.seed = seed
        self.device = next(loaded.model.parameters()).device
        self.cancel = threading.Event()

    def _wrap(self, fn, decoded: list[int]):
        """Move queries to the model's device; optionally evaluate in bfloat16 autocast; count the
        queries in ``decoded[0]``."""
        def wrapped(p: torch.Tensor) -> torch.Tensor:
            if self.cancel.is_set():
                raise ReconstructionCancelled("reconstruction cancelled")
            decoded[0] += len(p)
            p = p.to(self.device)
            if not self.bf16:
                return fn(p)
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return fn(p).float()

        return wrapped

    def canonical_input(self, points_world: np.ndarray, frame: CanonicalFrame | None = None) -> tuple[CanonicalFrame, np.ndarray, int]:
        """Validate and normalise a world cloud (in ``frame``, default the cloud's own), and
        resample it as in training, ``input_resamplings`` times: (K, N, 3) in the canonical box
        (the first resampling is the one a single draw gives)."""
        points = finite_points(points_world)
        if len(points) < MIN_INPUT_POINTS:
            raise DegenerateCloudError(f"{len(points)} finite points; at least {MIN_INPUT_POINTS} are needed")
        settings = self.loaded.settings
        frame = frame or CanonicalFrame.from_points(points, settings.fill, settings.align_yaw)
        rng = np.random.default_rng(self.seed)
        draws = [resample(points, settings.input_points, rng) for _ in range(self.input_resamplings)]
        return frame, frame.to_canonical(np.concatenate(draws)).astype(np.float32).reshape(len(draws), -1, 3), len(points)

    def line_of_sight_input(self, frame: CanonicalFrame, views: list[DepthView]) -> torch.Tensor | None:
        """Line-of-sight points of the views in the canonical box, as in training, one draw per
        input resampling (K, M, 3); None when the model takes none."""
        count = self.loaded.settings.free_points
        if not views or count <= 0 or not getattr(self.loaded.model.config, "line_of_sight", False):
            return None
        rng = np.random.default_rng(self.seed + 1)
        seen = [(view.points(), view.world_from_camera[:3, 3]) for view in views]  # back-projected once for all draws
        draws = [line_of_sight_draw(frame, seen, count, rng) for _ in range(self.input_resamplings)]
        return torch.from_numpy(np.stack(draws)).to(self.device)

    def evidence_field(self, frame: CanonicalFrame, views: list[DepthView], copies: list[DepthView] = ()) -> EvidenceField:
        """The views' evidence (and their symmetric copies'), its TSDF band sized by the object's observed extent."""
        size = frame.scale * self.loaded.settings.fill  # the observed points' extent, metres
        return EvidenceField(views, self.evidence.truncation(size), self.evidence, copies)

    def _fused(self, fn, frame: CanonicalFrame, field_: EvidenceField, timings: dict[str, float]):
        """The model's logit function fused with the views' evidence (canonical queries)."""
        level = surface_level(self.extraction.threshold)
        linear = (frame.matrix[:3, :3]).astype(np.float32)  # canonical -> world offsets from frame.center

        def fused(p: torch.Tensor) -> torch.Tensor:
            start = time.perf_counter()
            q = p.cpu().numpy()
            offsets = np.stack([q[:, 0] * linear[i, 0] + q[:, 1] * linear[i, 1] + q[:, 2] * linear[i, 2] for i in range(3)], axis=1)
            evidence = field_.at(offsets, frame.center)
            needed = model_needed(evidence, self.fusion)
            timings["evidence_s"] = timings.get("evidence_s", 0.0) + time.perf_counter() - start
            if needed.all():
                logits = fn(p).float().cpu().numpy()
            else:  # NaN where the network is not asked: fuse_logits does not read those
                logits = np.full(len(q), np.nan, dtype=np.float32)
                if needed.any():
                    logits[needed] = fn(p[torch.from_numpy(needed)]).float().cpu().numpy()
                elif self.cancel.is_set():  # no network call this batch to notice it
                    raise ReconstructionCancelled("reconstruction cancelled")
            return torch.from_numpy(fuse_logits(logits, evidence, level, self.fusion))

        return fused

    def symmetric_copies(self, points: np.ndarray, views: list[DepthView],
                         field_: EvidenceField) -> tuple[str, list[DepthView], np.ndarray]:
        """The symmetry the views support ("revolution", "mirror", "mirror2" or ""), the views it adds and
        the observed points' images under it (world)."""
        seen = cKDTree(points)  # both searches score their candidates against it
        facing = camera_directions(points, views) if self.symmetry.icp_facing or self.revolution.icp_facing else None
        if self.revolution.enabled:
            axis = find_revolution_axis(points, field_, np.random.default_rng(self.seed + 3), self.revolution, seen,
                                        facing if self.revolution.icp_facing else None)
            if axis is not None:
                copies = self.revolution.copies
                turned = np.concatenate([axis.rotate(points, angle) for angle in turn_angles(copies)])
                return "revolution", revolved_views(views, axis, copies), turned if self.revolution.turned_input else np.empty((0, 3))
        if self.symmetry.enabled:
            facing = facing if self.symmetry.icp_facing else None
            plane = find_mirror_plane(points, field_, np.random.default_rng(self.seed + 2), self.symmetry, seen, facing)
            if plane is not None:
                mirrored, reflected = [mirror_view(v, plane) for v in views], plane.reflect(points)
                second = self._second_plane(points, field_, seen, facing, plane) if self.symmetry.second_plane else None
                if second is None:
                    return "mirror", mirrored, reflected
                both = [mirror_view(v, second) for v in views + mirrored]
                return "mirror2", mirrored + both, np.concatenate([reflected, second.reflect(points), second.reflect(reflected)])
        return "", [], np.empty((0, 3))

    def _second_plane(self, points: np.ndarray, field_: EvidenceField, seen: cKDTree, facing: np.ndarray | None,
                      first: MirrorPlane) -> MirrorPlane | None:
        """The mirror plane square to ``first`` the views support at ``second_min_support``, or None."""
        stricter = replace(self.symmetry, min_support=max(self.symmetry.min_support, self.symmetry.second_min_support))
        return find_mirror_plane(points, field_, np.random.default_rng(self.seed + 4), stricter, seen, facing,
                                 yaw=float(np.arctan2(first.normal[1], first.normal[0])) + np.pi / 2)

    @torch.no_grad()
    def reconstruct(self, points_world: np.ndarray, views: list[DepthView] | None = None) -> Reconstruction:
        """The mesh of the object a cloud (N, 3) in metres shows, in the same frame; with the
        depth views it came from, their evidence shapes the observed surface and free space."""
        start = time.perf_counter()
        frame, inputs, count = self.canonical_input(points_world)
        views, dropped = views_in_front(views or [], frame.center)
        timings: dict[str, float] = {}
        field_, mirrored, seen_by, kind = None, np.empty((0, 3)), views, ""  # seen_by: the views and any symmetric ones
        if views and self.evidence is not None:
            field_ = self.evidence_field(frame, views)
            if self.symmetry.enabled or self.revolution.enabled:
                searched = time.perf_counter()
                points = finite_points(points_world)
                kind, copies, mirrored = self.symmetric_copies(points, views, field_)
                if kind:  # as if seen from the symmetric cameras too
                    seen_by = views + copies
                    field_ = self.evidence_field(frame, views, copies)
                    if len(mirrored):
                        inputs = self.canonical_input(np.concatenate([points, mirrored]), frame)[1]
                timings["symmetry_s"] = time.perf_counter() - searched
        free = self.line_of_sight_input(frame, seen_by)
        fn = self.loaded.model.occupancy_function(torch.from_numpy(inputs).to(self.device), fold=self.fold, free=free)
        decoded = [0]
        device_fn = self._wrap(fn, decoded)
        if field_ is not None:
            device_fn = self._fused(device_fn, frame, field_, timings)
        encoded = time.perf_counter()
        result = extract_mesh(device_fn, self.extraction, use_mise=self.use_mise)
        mesh = result.mesh.copy()
        mesh.apply_transform(frame.matrix)
        done = time.perf_counter()
        return Reconstruction(
            mesh=mesh,
            frame=frame,
            input_points=count,
            evaluated_points=result.evaluated_points,
            network_points=decoded[0],
            timings={"encode_s": encoded - start, "extract_s": done - encoded, **timings},
            views_used=len(views) if self.evidence is not None else 0,
            views_dropped=dropped,
            mirrored_points=len(mirrored),
            symmetry=kind,
        )


def line_of_sight_draw(frame: CanonicalFrame, seen: list[tuple[np.ndarray, np.ndarray]], count: int,
                       rng: np.random.Generator) -> np.ndarray:
    """``count`` line-of-sight points (canonical box) from a random subset of each view's observed
    world points, given with the view's camera position."""
    points, origins = [], []
    for observed, camera in seen:
        if len(observed) > LINE_OF_SIGHT_POINTS_PER_VIEW:
            observed = observed[rng.choice(len(observed), LINE_OF_SIGHT_POINTS_PER_VIEW, replace=False)]
        points.append(observed)
        origins.append(np.repeat(camera[None], len(observed), axis=0))
    canonical = frame.to_canonical(np.concatenate(points))
    return line_of_sight_samples(canonical, frame.to_canonical(np.concatenate(origins)), count, rng, LINE_OF_SIGHT_OFFSETS, BOX_HALF)


def views_in_front(views: list[DepthView], center: np.ndarray) -> tuple[list[DepthView], int]:
    """The views whose camera has the object's centre in front of it, and how many did not."""
    kept = [v for v in views if (np.linalg.inv(v.world_from_camera) @ np.append(center, 1.0))[2] > 0]
    return kept, len(views) - len(kept)


def load_reconstructor(checkpoint: str | Path | None = None, device: str = "auto", resolution0: int = 32, upsampling_steps: int = 2,
                       threshold: float | None = None, refine_margin: float = 3.0, bf16: bool = False,
                       point_only: bool = False, input_resamplings: int | None = None,
                       max_handles: int | None = ExtractionSettings.max_handles) -> Reconstructor:
    """A Reconstructor for a checkpoint file (default: the shipped model; with ``point_only`` the
    shipped point-only model, for clouds without views) on ``device`` ('auto', 'cpu', 'cuda').

    ``threshold=None`` keeps the checkpoint's, ``input_resamplings=None`` takes INPUT_RESAMPLINGS;
    raises CheckpointError, FileNotFoundError, RuntimeError or ValueError.
    """
    device = pick_device(device)
    loaded = load_checkpoint(Path(checkpoint).expanduser() if checkpoint else default_checkpoint(point_only), device)
    threshold = threshold if threshold is not None else loaded.settings.threshold
    extraction = ExtractionSettings(resolution0, upsampling_steps, threshold, refine_margin=refine_margin, max_handles=max_handles)
    return Reconstructor(loaded, extraction, bf16=bf16,
                         input_resamplings=INPUT_RESAMPLINGS if input_resamplings is None else input_resamplings)
