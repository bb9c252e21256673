"""Occupancy decoder f(p, z) with conditional batch normalisation (Mescheder et al. 2019).

Each CBN normalises features with batch statistics and scales/shifts them with gamma(z),
beta(z). At inference, with z fixed, every CBN is an affine map per channel; ``fold`` turns
the whole decoder into a plain MLP for one object (``FoldedDecoder``), so query points cost
only matrix products.
"""

from __future__ import annotations

import torch
from torch import nn


class ConditionalBatchNorm(nn.Module):
    """BatchNorm over (B, T, F) features with z-conditioned scale and shift."""

    def __init__(self, latent_dim: int, features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(features, affine=False)
        self.gamma = nn.Linear(latent_dim, features)
        self.beta = nn.Linear(latent_dim, features)
        nn.init.zeros_(self.gamma.weight)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.weight)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        normed = self.bn(x.transpose(1, 2)).transpose(1, 2)
        return self.gamma(z).unsqueeze(1) * normed + self.beta(z).unsqueeze(1)

    def affine(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (scale, shift) of this layer in eval mode: y = scale * x + shift."""
        inv_std = torch.rsqrt(self.bn.running_var + self.bn.eps)
        gamma, beta = self.gamma(z), self.beta(z)
        scale = gamma * inv_std
        return scale, beta - scale * self.bn.running_mean


class CBNResidualBlock(nn.Module):
    """CBN -> ReLU -> FC -> CBN -> ReLU -> FC, plus identity skip."""

    def __init__(self, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.cbn_0 = ConditionalBatchNorm(latent_dim, hidden)
        self.fc_0 = nn.Linear(hidden, hidden)
        self.cbn_1 = ConditionalBatchNorm(latent_dim, hidden)
        self.fc_1 = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.fc_1.weight)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.fc_0(torch.relu(self.cbn_0(x, z)))
        return x + self.fc_1(torch.relu(self.cbn_1(h, z)))


class CBNDecoder(nn.Module):
    """Occupancy logits for query points p (B, T, 3) given latent codes z (B, latent)."""

    def __init__(self, latent_dim: int = 128, hidden: int = 128, blocks: int = 5) -> None:
        super().__init__()
        self.fc_p = nn.Linear(3, hidden)
        self.fc_z = nn.Linear(latent_dim, hidden)
        self.blocks = nn.ModuleList([CBNResidualBlock(latent_dim, hidden) for _ in range(blocks)])
        self.cbn_out = ConditionalBatchNorm(latent_dim, hidden)
        self.fc_out = nn.Linear(hidden, 1)

    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        net = self.fc_p(p) + self.fc_z(z).unsqueeze(1)
        for block in self.blocks:
            net = block(net, z)
        return self.fc_out(torch.relu(self.cbn_out(net, z))).squeeze(-1)

    @torch.no_grad()
    def fold(self, z: torch.Tensor) -> FoldedDecoder:
        """The decoder for one latent code z (latent,) as a plain MLP (eval-mode statistics)."""
        if z.dim() != 1:
            raise ValueError(f"fold expects one latent code of shape (latent,), got {tuple(z.shape)}")
        return FoldedDecoder(self, z)


class FoldedDecoder(nn.Module):
    """A CBNDecoder specialised to one z: CBNs become affine maps, merged into the FC layers.

    The CBN that follows fc_0 in each block is merged into fc_0's weights; the CBN on the
    residual stream (which a skip also reads) stays a per-channel multiply-add; fc_z(z) is
    merged into fc_p's bias.
    """

    def __init__(self, decoder: CBNDecoder, z: torch.Tensor) -> None:
        super().__init__()
        self.in_weight = decoder.fc_p.weight.clone()
        self.in_bias = decoder.fc_p.bias + decoder.fc_z(z)
        self.layers: list[tuple[torch.Tensor, ...]] = []
        for block in decoder.blocks:
            s0, t0 = block.cbn_0.affine(z)
            s1, t1 = block.cbn_1.affine(z)
            w0 = block.fc_0.weight * s1.unsqueeze(1)  # row-scale: CBN_1 after fc_0
            b0 = block.fc_0.bias * s1 + t1
            self.layers.append((s0, t0, w0, b0, block.fc_1.weight, block.fc_1.bias))
        self.out_scale, self.out_shift = decoder.cbn_out.affine(z)
        self.out_weight = decoder.fc_out.weight
        self.out_bias = decoder.fc_out.bias

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """p: (T, 3) -> logits (T,)."""
        net = torch.addmm(self.in_bias, p, self.in_weight.t())
        for s0, t0, w0, b0, w1, b1 in self.layers:
            h = torch.relu(torch.addmm(b0, torch.relu(net * s0 + t0), w0.t()))
            net = net + torch.addmm(b1, h, w1.t())
        out = torch.relu(net * self.out_scale + self.out_shift)
        return torch.addmm(self.out_bias, out, self.out_weight.t()).squeeze(-1)
