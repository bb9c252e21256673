"""The prior and the evidence in one occupancy function.

Where the views observed the surface (TSDF weight > 0) the logit follows the fused TSDF,
blended with the model's by the evidence weight so there is no step where the evidence ends;
space a ray proved empty is pushed below the level; elsewhere the model decides. The result is
one logit field, so marching cubes gives one closed mesh with no double walls at the seams.

Known-free space that no view observed (most of the box: 63% of the extraction's queries on the
bench chair) takes ``level - free_margin`` without asking the network (``skip_known_free``):
MISE refines the same cells either way (its margin is below ``free_margin``). Where the evidence
has full weight the model's logit is multiplied by zero, so it is not asked there either (exact).
The reconstruction queries the network only where :func:`model_needed` says its logit can matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from occnet_ros.complete.evidence import Evidence


@dataclass(frozen=True)
class FusionSettings:
    gain: float = 9.0  # logits from the level at the edge of the TSDF band (validation: models/README.md, "Mirror symmetry")
    full_weight: float = 3.0  # evidence weight at which the TSDF alone decides (tools/fusion_sweep.py)
    free_margin: float = 6.0  # known-free space sits at least this many logits below the level
    skip_known_free: bool = True  # unobserved known-free space: level - free_margin, no network query

    def validate(self) -> None:
        if self.gain <= 0 or self.full_weight <= 0 or self.free_margin < 0:
            raise ValueError(f"invalid fusion settings {self}")


def model_needed(evidence: Evidence, settings: FusionSettings = FusionSettings()) -> np.ndarray:
    """Where the fused logit depends on the model's (bool per point): all but where the evidence
    has full weight, and with ``skip_known_free`` also not the known-free space no view observed."""
    needed = evidence.weight < settings.full_weight
    if not settings.skip_known_free:
        return needed
    return needed & ~_unobserved_free(evidence)


def _unobserved_free(evidence: Evidence) -> np.ndarray:
    """Known-free space no view observed: with ``skip_known_free`` its logit is the free level alone."""
    return evidence.free & ~evidence.observed


def fuse_logits(model: np.ndarray, evidence: Evidence, level: float, settings: FusionSettings = FusionSettings()) -> np.ndarray:
    """Fused logits from the model's logits and the evidence at the same points (the model's
    values are not read where :func:`model_needed` is False)."""
    alpha = np.clip(evidence.weight / settings.full_weight, 0.0, 1.0)
    tsdf = np.nan_to_num(evidence.tsdf, nan=0.0)
    from_evidence = level - settings.gain * tsdf
    fused = np.where(alpha >= 1.0, from_evidence, alpha * from_evidence + (1.0 - alpha) * model)
    carve = evidence.free & ~(evidence.observed & (tsdf < 0))
    free_level = level - settings.free_margin
    fused = np.where(carve, np.minimum(fused, free_level), fused)
    if settings.skip_known_free:  # the model was not asked there: the free level alone
        fused = np.where(_unobserved_free(evidence), free_level, fused)
    return fused.astype(np.float32)
