"""ResNet-PointNet encoder: a point cloud in the unit box -> global latent code z."""

from __future__ import annotations

import torch
from torch import nn


class ResidualFC(nn.Module):
    """Two-layer fully connected residual block applied point-wise."""

    def __init__(self, size_in: int, size_out: int, size_hidden: int | None = None) -> None:
        super().__init__()
        size_hidden = size_hidden or min(size_in, size_out)
        self.fc_0 = nn.Linear(size_in, size_hidden)
        self.fc_1 = nn.Linear(size_hidden, size_out)
        nn.init.zeros_(self.fc_1.weight)
        self.shortcut = None if size_in == size_out else nn.Linear(size_in, size_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dx = self.fc_1(torch.relu(self.fc_0(torch.relu(x))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + dx


class ResnetPointNet(nn.Module):
    """PointNet with residual blocks and max-pooled context after every block.

    Permutation invariant: each point is processed alone, and points only meet through the
    max-pool over the set.
    """

    def __init__(self, latent_dim: int = 128, hidden: int = 128, blocks: int = 5) -> None:
        super().__init__()
        self.fc_pos = nn.Linear(3, 2 * hidden)
        self.blocks = nn.ModuleList(
            [ResidualFC(2 * hidden, hidden) for _ in range(blocks)]
        )
        self.fc_latent = nn.Linear(hidden, latent_dim)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """points: (B, N, 3) -> latent (B, latent_dim)."""
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            pooled = net.max(dim=1, keepdim=True).values.expand_as(net)
            net = block(torch.cat([net, pooled], dim=2))
        return self.fc_latent(torch.relu(net.max(dim=1).values))


def as_resamplings(points: torch.Tensor | None) -> torch.Tensor | None:
    """One object's cloud (N, 3) as a batch of one, or K resamplings of it (K, N, 3) as they are:
    inference averages the K encodings (test-time ensembling over the input's random subsets)."""
    if points is None or points.dim() == 3:
        return points
    if points.dim() != 2:
        raise ValueError(f"expected points (N, 3) or resamplings (K, N, 3), got shape {tuple(points.shape)}")
    return points.unsqueeze(0)
