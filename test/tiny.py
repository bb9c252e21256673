"""A tiny training config for tests: a few procedural shapes, a small network, seconds to train."""

from __future__ import annotations

from pathlib import Path


def tiny_config(root: Path, steps: int, out: str = "run") -> dict:
    return {
        "model": {"latent_dim": 32, "encoder_hidden": 32, "encoder_blocks": 2, "decoder_hidden": 32, "decoder_blocks": 2},
        "data": {
            "cache_dir": str(root / "cache"),
            "sources": [{"type": "procedural", "categories": ["bowl", "cabinet"], "train": 2, "val": 1}],
            "record": {"views": 3, "queries": 4000, "surface_points": 1000},
            "example": {"input_points": 200, "query_points": 512, "max_views": 3},
        },
        "train": {"out_dir": str(root / out), "batch_size": 4, "max_steps": steps, "validate_every": steps,
                  "checkpoint_every": 10, "lr": 0.003, "threads": 1, "seed": 3},
    }
