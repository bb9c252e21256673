"""Local-feature occupancy network (after Peng et al., ECCV 2020, Convolutional Occupancy Networks).

Point features (a PointNet with local pooling inside plane cells) are scattered into three
axis-aligned feature planes (xy, xz, yz), each refined by a small shared U-Net; a query point
bilinearly samples the three planes and a light ResNet MLP decodes occupancy. The planes are
computed once per object, so queries cost only sampling plus a small MLP.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from occnet_ros.core.model.encoder import ResidualFC
from occnet_ros.core.normalize import BOX_HALF

PLANES = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz


def plane_coordinates(points: torch.Tensor, plane: tuple[int, int]) -> torch.Tensor:
    """(B, N, 2) coordinates in [0, 1) of points' projection onto a plane of the box."""
    uv = points[..., list(plane)] / (2 * BOX_HALF) + 0.5
    return uv.clamp(0.0, 1.0 - 1e-5)


def cell_index(uv: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B, N) flat cell index of plane coordinates."""
    cells = (uv * resolution).long()
    return cells[..., 0] + resolution * cells[..., 1]


class LocalPoolPointNet(nn.Module):
    """ResNet-PointNet whose pooling is local: max over the points sharing a plane cell."""

    def __init__(self, c_dim: int, hidden: int, blocks: int, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.fc_pos = nn.Linear(3, 2 * hidden)
        self.blocks = nn.ModuleList([ResidualFC(2 * hidden, hidden) for _ in range(blocks)])
        self.fc_c = nn.Linear(hidden, c_dim)

    def local_max(self, features: torch.Tensor, indices: list[torch.Tensor]) -> torch.Tensor:
        """Per point, the max of its cell's features, summed over the three planes."""
        batch, _, channels = features.shape
        pooled = torch.zeros_like(features)
        for index in indices:
            grid = torch.full((batch, self.resolution**2, channels), -1e9, dtype=features.dtype, device=features.device)
            expanded = index.unsqueeze(-1).expand(-1, -1, channels)
            grid = grid.scatter_reduce(1, expanded, features, reduce="amax", include_self=True)
            pooled = pooled + grid.gather(1, expanded)
        return pooled

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        indices = [cell_index(plane_coordinates(points, plane), self.resolution) for plane in PLANES]
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            net = block(torch.cat([net, self.local_max(net, indices)], dim=2))
        return self.fc_c(net), indices


def scatter_mean(features: torch.Tensor, index: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B, C, R, R) plane of the mean point feature per cell (zero where empty)."""
    batch, _, channels = features.shape
    sums = torch.zeros(batch, resolution**2, channels, dtype=features.dtype, device=features.device)
    sums = sums.scatter_add(1, index.unsqueeze(-1).expand(-1, -1, channels), features)
    counts = torch.zeros(batch, resolution**2, 1, dtype=features.dtype, device=features.device)
    counts = counts.scatter_add(1, index.unsqueeze(-1), torch.ones_like(features[..., :1]))
    mean = sums / counts.clamp(min=1)
    return mean.transpose(1, 2).reshape(batch, channels, resolution, resolution)


class UNet2d(nn.Module):
    """A small U-Net with ``depth`` levels (channels C, 2C, 4C, ...; depth - 1 downsamplings),
    returning C channels at the input resolution."""

    def __init__(self, channels: int, depth: int) -> None:
        super().__init__()
        levels = range(depth - 1)
        self.down = nn.ModuleList([self._block(channels * 2**i, channels * 2 ** (i + 1)) for i in levels])
        self.up = nn.ModuleList([self._block(channels * 2 ** (i + 1) + channels * 2**i, channels * 2**i) for i in reversed(levels)])
        self.inp = self._block(channels, channels)

    @staticmethod
    def _block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inp(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], dim=1))
        return x


class LocalDecoder(nn.Module):
    """Occupancy logit from the sum of bilinearly sampled plane features and the query point."""

    def __init__(self, c_dim: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.fc_p = nn.Linear(3, hidden)
        self.fc_c = nn.ModuleList([nn.Linear(c_dim, hidden) for _ in range(blocks)])
        self.blocks = nn.ModuleList([ResidualFC(hidden, hidden) for _ in range(blocks)])
        self.fc_out = nn.Linear(hidden, 1)

    @staticmethod
    def sample(planes: list[torch.Tensor], queries: torch.Tensor) -> torch.Tensor:
        features = 0
        for plane, grid in zip(PLANES, planes):
            uv = plane_coordinates(queries, plane) * 2 - 1  # grid_sample wants [-1, 1]
            sampled = F.grid_sample(grid, uv.unsqueeze(1), mode="bilinear", padding_mode="border", align_corners=False)
            features = features + sampled.squeeze(2).transpose(1, 2)
        return features

    def forward(self, queries: torch.Tensor, planes: list[torch.Tensor]) -> torch.Tensor:
        c = self.sample(planes, queries)
        net = self.fc_p(queries)
        for fc_c, block in zip(self.fc_c, self.blocks):
            net = block(net + fc_c(c))
        return self.fc_out(torch.relu(net)).squeeze(-1)


class ConvOccupancyNetwork(nn.Module):
    """Same interface as OccupancyNetwork: forward(inputs, queries), occupancy_function(cloud)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = LocalPoolPointNet(c.latent_dim, c.encoder_hidden, c.encoder_blocks, c.plane_resolution)
        self.unet = UNet2d(c.latent_dim, c.unet_depth)
        self.decoder = LocalDecoder(c.latent_dim, c.decoder_hidden, c.decoder_blocks)

    def encode(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """inputs (B, N, 3) -> three refined feature planes (B, C, R, R)."""
        features, indices = self.encoder(inputs)
        return [self.unet(scatter_mean(features, index, self.config.plane_resolution)) for index in indices]

    def forward(self, inputs: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        return self.decoder(queries, self.encode(inputs))

    @torch.no_grad()
    def occupancy_function(self, inputs: torch.Tensor, fold: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
        """Logit function of one object's cloud (N, 3); planes are computed once (``fold`` has
        no further effect: the local decoder has no per-object layers to fold)."""
        if self.training:
            raise RuntimeError("occupancy_function needs eval mode (call model.eval())")
        planes = self.encode(inputs.unsqueeze(0))
        return lambda p: self.decoder(p.unsqueeze(0), planes)[0]
