"""Occupancy Network: PointNet encoder -> z, CBN decoder f(p, z) -> occupancy logit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from occnet_ros.model.decoder import CBNDecoder
from occnet_ros.model.encoder import ResnetPointNet, as_resamplings


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of an Occupancy Network; stored in every checkpoint."""

    model: str = "onet"  # "onet" (global latent, CBN decoder) or "conv_onet" (feature planes)
    latent_dim: int = 128  # onet: size of z; conv_onet: feature channels of the planes
    encoder_hidden: int = 128
    encoder_blocks: int = 5
    decoder_hidden: int = 128
    decoder_blocks: int = 5
    plane_resolution: int = 64  # conv_onet only: cells per side of each feature plane
    unet_depth: int = 4  # conv_onet only
    feature: str = "planes"  # conv_onet only: "planes" (three axis-aligned planes) or "grid" (one 3D grid)
    grid_resolution: int = 16  # conv_onet with feature "grid": cells per side of the grid
    line_of_sight: bool = False  # conv_onet only: also encode free-space points seen along the rays

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown model config keys: {unknown}; known: {sorted(known)}")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.feature not in FEATURES:
            raise ValueError(f"model config feature must be one of {FEATURES}, got {self.feature!r}")
        for name in ("latent_dim", "encoder_hidden", "encoder_blocks", "decoder_hidden", "decoder_blocks", "plane_resolution", "unet_depth",
                     "grid_resolution"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"model config {name} must be a positive integer, got {value!r}")
        if not isinstance(self.line_of_sight, bool):
            raise ValueError(f"model config line_of_sight must be true or false, got {self.line_of_sight!r}")
        if self.line_of_sight and self.model != "conv_onet":
            raise ValueError("model config line_of_sight needs model conv_onet")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def feature_resolution_key(self) -> str:
        """The key holding the cells per side of conv_onet's feature maps for this layout."""
        return "grid_resolution" if self.feature == "grid" else "plane_resolution"


def require_same_architecture(path: object, saved: ModelConfig, asked: ModelConfig, advice: str) -> None:
    """Raise a ValueError naming both architectures when a checkpoint's differs from a config's."""
    if saved != asked:
        raise ValueError(f"{path} holds a '{saved.model}' model ({saved.to_dict()}) but the config asks for "
                         f"'{asked.model}' ({asked.to_dict()}); {advice}")


MODELS = ("onet", "conv_onet")
FEATURES = ("planes", "grid")


def build_model(config: ModelConfig) -> nn.Module:
    """The network a config describes (checkpoints store the config, so loading needs no flag)."""
    config.validate()
    if config.model == "conv_onet":
        from occnet_ros.model.conv_onet import ConvOccupancyNetwork

        name = config.feature_resolution_key
        resolution = getattr(config, name)
        if resolution % 2 ** (config.unet_depth - 1):
            raise ValueError(f"{name} {resolution} must be divisible by 2^(unet_depth - 1)")
        return ConvOccupancyNetwork(config)
    return OccupancyNetwork(config)


class OccupancyNetwork(nn.Module):
    """Encoder and decoder; forward gives occupancy logits of queries given input clouds."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        self.config.validate()
        c = self.config
        self.encoder = ResnetPointNet(c.latent_dim, c.encoder_hidden, c.encoder_blocks)
        self.decoder = CBNDecoder(c.latent_dim, c.decoder_hidden, c.decoder_blocks)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (B, N, 3) in the unit box -> latent codes (B, latent_dim)."""
        return self.encoder(inputs)

    def forward(self, inputs: torch.Tensor, queries: torch.Tensor, free: torch.Tensor | None = None) -> torch.Tensor:
        """inputs (B, N, 3), queries (B, T, 3) -> logits (B, T); the global model takes no
        line-of-sight points (``free`` is ignored)."""
        return self.decoder(queries, self.encode(inputs))

    @torch.no_grad()
    def occupancy_function(
        self, inputs: torch.Tensor, fold: bool = True, free: torch.Tensor | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Logit function of one object's cloud (N, 3), or of K resamplings of it (K, N, 3) whose
        codes are averaged, for mesh extraction (eval mode); ``free`` is ignored.

        With ``fold`` the decoder is specialised to the object's z once (plain MLP per query).
        """
        if self.training:
            raise RuntimeError("occupancy_function needs eval mode (call model.eval())")
        z = self.encode(as_resamplings(inputs)).mean(dim=0)
        if fold:
            return self.decoder.fold(z)
        return lambda p: self.decoder(p.unsqueeze(0), z.unsqueeze(0))[0]
