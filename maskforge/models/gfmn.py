"""The GFMN ResNet generator (Generative Feature Matching Networks, 64x64 ResNet variant).

Linear ``dim_z -> 4*4*C0`` (``C0 = round(1024 * width)``), residual up-blocks that halve the
channels each time (1024 -> 512 -> 256 -> 128 -> 64 at 64x64), then BN -> ReLU -> conv3x3 ->
tanh. Unconditional, no spectral norm (GFMN trains G alone, against fixed feature
extractors). Weights are initialised N(0, 0.02), biases zero.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.common import (
    check_resolution,
    check_width,
    conv,
    linear,
    normal_002,
    num_doublings,
    scaled,
)
from maskforge.models.resblocks import UpBlock


class GFMNGenerator(nn.Module):
    """GFMN ResNet generator; one channel-halving up-block per doubling from 4x4.

    Channels after block ``i`` are ``max(1, round(1024 * width / 2**(i+1)))``.

    Shapes: ``z`` (B, dim_z), ``y`` ignored -> images (B, channels, resolution, resolution)
    in [-1, 1].
    """

    def __init__(
        self, resolution: int = 64, width: float = 1.0, dim_z: int = 100, channels: int = 3
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.resolution = check_resolution(resolution, name)
        self.width = check_width(width, name)
        self.n_classes = 0
        self.dim_z = dim_z
        self.channels = channels
        widths = [scaled(1024 / 2**i, width) for i in range(num_doublings(resolution) + 1)]
        self.base_channels = widths[0]
        init = normal_002
        self.linear = linear(dim_z, 4 * 4 * widths[0], init=init, sn=False)
        self.blocks = nn.Sequential(*(UpBlock(a, b, init=init) for a, b in pairwise(widths)))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = conv(widths[-1], channels, 3, init=init, sn=False)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(self.linear(z).view(z.shape[0], self.base_channels, 4, 4))
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))
