"""Point cloud in the world (metres, z up) -> watertight mesh in the world.

The cloud is put into the network's canonical box (gravity aligned, yaw from PCA, centred
and scaled as in training), encoded once, the decoder folded for that code, the surface
extracted with MISE, and the mesh mapped back to the world.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import trimesh

from occnet_ros.complete.extract import ExtractionSettings, extract_mesh
from occnet_ros.geometry.frames import CanonicalFrame, DegenerateCloudError, finite_points, resample
from occnet_ros.model.checkpoint import LoadedModel, default_checkpoint, load_checkpoint, pick_device

MIN_INPUT_POINTS = 10


@dataclass
class Reconstruction:
    mesh: trimesh.Trimesh  # world frame
    frame: CanonicalFrame  # canonical box -> world
    input_points: int  # finite points received
    evaluated_points: int  # network queries spent on extraction
    timings: dict[str, float] = field(default_factory=dict)


class Reconstructor:
    """Reconstructs clouds with one loaded model; not thread-safe (use one per worker)."""

    def __init__(
        self,
        loaded: LoadedModel,
        extraction: ExtractionSettings | None = None,
        fold: bool = True,
        use_mise: bool = True,
        seed: int = 0,
        bf16: bool = False,
    ) -> None:
        self.loaded = loaded
        self.bf16 = bf16
        self.extraction = extraction or ExtractionSettings(threshold=loaded.settings.threshold)
        self.fold = fold
        self.use_mise = use_mise
        self.seed = seed
        self.device = next(loaded.model.parameters()).device

    def _wrap(self, fn):
        """Move queries to the model's device; optionally evaluate in bfloat16 autocast."""
        def wrapped(p: torch.Tensor) -> torch.Tensor:
            p = p.to(self.device)
            if not self.bf16:
                return fn(p)
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return fn(p).float()

        return wrapped

    def canonical_input(self, points_world: np.ndarray) -> tuple[CanonicalFrame, np.ndarray, int]:
        """Validate, normalise and resample a world cloud as in training."""
        points = finite_points(points_world)
        if len(points) < MIN_INPUT_POINTS:
            raise DegenerateCloudError(f"{len(points)} finite points; at least {MIN_INPUT_POINTS} are needed")
        settings = self.loaded.settings
        frame = CanonicalFrame.from_points(points, settings.fill, settings.align_yaw)
        rng = np.random.default_rng(self.seed)
        inputs = frame.to_canonical(resample(points, settings.input_points, rng)).astype(np.float32)
        return frame, inputs, len(points)

    @torch.no_grad()
    def reconstruct(self, points_world: np.ndarray) -> Reconstruction:
        """The mesh of the object a cloud (N, 3) in metres shows, in the same frame."""
        start = time.perf_counter()
        frame, inputs, count = self.canonical_input(points_world)
        fn = self.loaded.model.occupancy_function(torch.from_numpy(inputs).to(self.device), fold=self.fold)
        device_fn = self._wrap(fn)
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
            timings={"encode_s": encoded - start, "extract_s": done - encoded},
        )


def load_reconstructor(checkpoint: str | Path | None = None, device: str = "auto", resolution0: int = 32, upsampling_steps: int = 2,
                       threshold: float | None = None, refine_margin: float = 3.0, bf16: bool = False) -> Reconstructor:
    """A Reconstructor for a checkpoint file (default: the shipped model) on ``device`` ('auto', 'cpu', 'cuda').

    ``threshold=None`` keeps the checkpoint's; raises CheckpointError, FileNotFoundError or RuntimeError.
    """
    device = pick_device(device)
    loaded = load_checkpoint(Path(checkpoint).expanduser() if checkpoint else default_checkpoint(), device)
    threshold = threshold if threshold is not None else loaded.settings.threshold
    extraction = ExtractionSettings(resolution0, upsampling_steps, threshold, refine_margin=refine_margin)
    return Reconstructor(loaded, extraction, bf16=bf16)
