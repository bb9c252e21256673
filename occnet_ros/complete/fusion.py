"""The prior and the evidence in one occupancy function.

Where the views observed the surface (TSDF weight > 0) the logit follows the fused TSDF,
blended with the model's by the evidence weight so there is no step where the evidence ends;
space a ray proved empty is pushed below the level; elsewhere the model decides. The result is
one logit field, so marching cubes gives one closed mesh with no double walls at the seams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occnet_ros.complete.evidence import Evidence


@dataclass(frozen=True)
class FusionSettings:
    gain: float = 6.0  # logits from the level at the edge of the TSDF band
    full_weight: float = 3.0  # evidence weight at which the TSDF alone decides (tools/fusion_sweep.py)
    free_margin: float = 6.0  # known-free space sits at least this many logits below the level

    def validate(self) -> None:
        if self.gain <= 0 or self.full_weight <= 0 or self.free_margin < 0:
            raise ValueError(f"invalid fusion settings {self}")


def fuse_logits(model: np.ndarray, evidence: Evidence, level: float, settings: FusionSettings = FusionSettings()) -> np.ndarray:
    """Fused logits from the model's logits and the evidence at the same points."""
    alpha = np.clip(evidence.weight / settings.full_weight, 0.0, 1.0)
    tsdf = np.nan_to_num(evidence.tsdf, nan=0.0)
    from_evidence = level - settings.gain * tsdf
    fused = alpha * from_evidence + (1.0 - alpha) * model
    carve = evidence.free & ~(evidence.observed & (tsdf < 0))
    return np.where(carve, np.minimum(fused, level - settings.free_margin), fused).astype(np.float32)
