"""Local-feature occupancy network (after Peng et al., ECCV 2020, Convolutional Occupancy Networks).

Point features (a PointNet with local pooling inside feature cells) are scattered into three
axis-aligned feature planes (xy, xz, yz; ``feature: planes``) or one coarse 3D grid
(``feature: grid``), refined by a small shared U-Net (2D or 3D); a query point samples the
maps (bi/trilinearly) and a light ResNet MLP decodes occupancy. The maps are computed once per
object, so queries cost only sampling plus a small MLP.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from occnet_ros.geometry.frames import BOX_HALF
from occnet_ros.model.encoder import ResidualFC, as_resamplings

PLANES = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz
GRID = ((0, 1, 2),)  # one volume
FEATURE_LAYOUTS = {"planes": PLANES, "grid": GRID}  # by ModelConfig.feature
LINE_OF_SIGHT_BLOCKS = 3  # ResNet blocks of the line-of-sight PointNet


def feature_coordinates(points: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    """(B, N, D) coordinates in [0, 1) of points projected onto the box's ``axes``."""
    uv = points[..., list(axes)] / (2 * BOX_HALF) + 0.5
    return uv.clamp(0.0, 1.0 - 1e-5)


def cell_index(uv: torch.Tensor, resolution: int) -> torch.Tensor:
    """(B, N) flat cell index of D-dimensional coordinates (the first axis varies fastest,
    so a (..., R, R[, R]) reshape puts axis 0 last, where grid_sample's x reads it)."""
    cells = (uv * resolution).long()
    strides = resolution ** torch.arange(uv.shape[-1], device=uv.device)
    return (cells * strides).sum(-1)


class LocalPoolPointNet(nn.Module):
    """ResNet-PointNet whose pooling is local: max over the points sharing a feature cell."""

    def __init__(self, c_dim: int, hidden: int, blocks: int, resolution: int, layout: tuple[tuple[int, ...], ...] = PLANES) -> None:
        super().__init__()
        self.resolution = resolution
        self.layout = layout
        self.fc_pos = nn.Linear(3, 2 * hidden)
        self.blocks = nn.ModuleList([ResidualFC(2 * hidden, hidden) for _ in range(blocks)])
        self.fc_c = nn.Linear(hidden, c_dim)

    def local_max(self, features: torch.Tensor, indices: list[torch.Tensor]) -> torch.Tensor:
        """Per point, the max of its cell's features, summed over the feature maps."""
        batch, _, channels = features.shape
        pooled = torch.zeros_like(features)
        for axes, index in zip(self.layout, indices):
            cells = self.resolution ** len(axes)
            grid = torch.full((batch, cells, channels), -1e9, dtype=features.dtype, device=features.device)
            expanded = index.unsqueeze(-1).expand(-1, -1, channels)
            grid = grid.scatter_reduce(1, expanded, features, reduce="amax", include_self=True)
            pooled = pooled + grid.gather(1, expanded)
        return pooled

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        indices = [cell_index(feature_coordinates(points, axes), self.resolution) for axes in self.layout]
        net = self.blocks[0](self.fc_pos(points))
        for block in self.blocks[1:]:
            net = block(torch.cat([net, self.local_max(net, indices)], dim=2))
        return self.fc_c(net), indices


def scatter_mean(features: torch.Tensor, index: torch.Tensor, resolution: int, dims: int = 2) -> torch.Tensor:
    """(B, C, R, R[, R]) map of the mean point feature per cell (zero where empty)."""
    batch, _, channels = features.shape
    sums = torch.zeros(batch, resolution**dims, channels, dtype=features.dtype, device=features.device)
    sums = sums.scatter_add(1, index.unsqueeze(-1).expand(-1, -1, channels), features)
    counts = torch.zeros(batch, resolution**dims, 1, dtype=features.dtype, device=features.device)
    counts = counts.scatter_add(1, index.unsqueeze(-1), torch.ones_like(features[..., :1]))
    mean = sums / counts.clamp(min=1)
    return mean.transpose(1, 2).reshape(batch, channels, *([resolution] * dims))


class UNet(nn.Module):
    """A small 2D or 3D U-Net with ``depth`` levels (channels C, 2C, 4C, ...; depth - 1
    downsamplings), returning C channels at the input resolution."""

    def __init__(self, channels: int, depth: int, dims: int = 2) -> None:
        super().__init__()
        self.dims = dims
        levels = range(depth - 1)
        self.down = nn.ModuleList([self._block(channels * 2**i, channels * 2 ** (i + 1)) for i in levels])
        self.up = nn.ModuleList([self._block(channels * 2 ** (i + 1) + channels * 2**i, channels * 2**i) for i in reversed(levels)])
        self.inp = self._block(channels, channels)

    def _block(self, cin: int, cout: int) -> nn.Sequential:
        conv = nn.Conv2d if self.dims == 2 else nn.Conv3d
        return nn.Sequential(conv(cin, cout, 3, padding=1), nn.ReLU(inplace=True), conv(cout, cout, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
        mode = "bilinear" if self.dims == 2 else "trilinear"
        skips = [self.inp(x)]
        for block in self.down:
            skips.append(block(pool(skips[-1], 2)))
        x = skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = block(torch.cat([F.interpolate(x, size=skip.shape[2:], mode=mode, align_corners=False), skip], dim=1))
        return x


class LocalDecoder(nn.Module):
    """Occupancy logit from the sum of (bi/tri)linearly sampled features and the query point."""

    def __init__(self, c_dim: int, hidden: int, blocks: int, layout: tuple[tuple[int, ...], ...] = PLANES) -> None:
        super().__init__()
        self.layout = layout
        self.fc_p = nn.Linear(3, hidden)
        self.fc_c = nn.ModuleList([nn.Linear(c_dim, hidden) for _ in range(blocks)])
        self.blocks = nn.ModuleList([ResidualFC(hidden, hidden) for _ in range(blocks)])
        self.fc_out = nn.Linear(hidden, 1)

    @staticmethod
    def sample(maps: list[torch.Tensor], queries: torch.Tensor, layout: tuple[tuple[int, ...], ...] = PLANES) -> torch.Tensor:
        """(B, N, C): the sum over feature maps of each map read at the queries' coordinates."""
        features = 0
        batch, count, _ = queries.shape
        for axes, grid in zip(layout, maps):
            uv = feature_coordinates(queries, axes) * 2 - 1  # grid_sample wants [-1, 1]
            uv = uv.view(batch, *([1] * (len(axes) - 1)), count, len(axes))
            sampled = F.grid_sample(grid, uv, mode="bilinear", padding_mode="border", align_corners=False)
            features = features + sampled.reshape(batch, grid.shape[1], count).transpose(1, 2)
        return features

    def forward(self, queries: torch.Tensor, planes: list[torch.Tensor]) -> torch.Tensor:
        c = self.sample(planes, queries, self.layout)
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
        c.validate()
        self.layout = FEATURE_LAYOUTS[c.feature]
        self.resolution = getattr(c, c.feature_resolution_key)
        self.dims = len(self.layout[0])
        self.encoder = LocalPoolPointNet(c.latent_dim, c.encoder_hidden, c.encoder_blocks, self.resolution, self.layout)
        self.unet = UNet(c.latent_dim, c.unet_depth, self.dims)
        self.decoder = LocalDecoder(c.latent_dim, c.decoder_hidden, c.decoder_blocks, self.layout)
        self.free_encoder = None
        if c.line_of_sight:
            # Line-of-sight points (space a ray crossed in front of the surface) get their own
            # PointNet; its output starts at zero so a point-only checkpoint warm-starts unchanged.
            self.free_encoder = LocalPoolPointNet(c.latent_dim, c.encoder_hidden, LINE_OF_SIGHT_BLOCKS, self.resolution, self.layout)
            nn.init.zeros_(self.free_encoder.fc_c.weight)
            nn.init.zeros_(self.free_encoder.fc_c.bias)

    def encode(self, inputs: torch.Tensor, free: torch.Tensor | None = None) -> list[torch.Tensor]:
        """inputs (B, N, 3) surface points, free (B, M, 3) line-of-sight points (ignored unless the
        model was built with ``line_of_sight``) -> refined feature maps: three planes (B, C, R, R)
        or one grid (B, C, R, R, R)."""
        features, indices = self.encoder(inputs)
        maps = [scatter_mean(features, index, self.resolution, self.dims) for index in indices]
        if self.free_encoder is not None and free is not None and free.shape[1] > 0:
            free_features, free_indices = self.free_encoder(free)
            maps = [m + scatter_mean(free_features, index, self.resolution, self.dims) for m, index in zip(maps, free_indices)]
        return [self.unet(m) for m in maps]

    def forward(self, inputs: torch.Tensor, queries: torch.Tensor, free: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(queries, self.encode(inputs, free))

    @torch.no_grad()
    def occupancy_function(
        self, inputs: torch.Tensor, fold: bool = True, free: torch.Tensor | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Logit function of one object's cloud (N, 3) and line-of-sight points (M, 3), or of K
        resamplings of both ((K, N, 3), (K, M, 3)) whose feature maps are averaged; the maps are
        computed once (``fold`` has no further effect: the local decoder has no per-object layers)."""
        if self.training:
            raise RuntimeError("occupancy_function needs eval mode (call model.eval())")
        inputs, free = as_resamplings(inputs), as_resamplings(free)
        if free is not None and len(free) != len(inputs):
            raise ValueError(f"{len(inputs)} input resamplings but {len(free)} of line-of-sight points")
        planes = [m.mean(dim=0, keepdim=True) for m in self.encode(inputs, free)]
        return lambda p: self.decoder(p.unsqueeze(0), planes)[0]
