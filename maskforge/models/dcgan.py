"""A small DCGAN-style pair for the embedded 16x16 digits (fast enough for CPU tests and demos).

Generator: linear -> 4x4 map with ``2*base`` channels -> BN -> ReLU, then stride-2
transposed convolutions (each followed by BN -> ReLU) that double the resolution while the
channels halve down to ``base`` and stay there, then conv3x3 -> tanh. Discriminator: stride-2
conv4x4 + LeakyReLU(0.2) blocks down to 4x4 (channels ``base``, then ``2*base``), flatten,
linear -> 1, plus a projection term when class-conditional; spectral norm on every D layer.
``base = round(64 * width)``. Weights are initialised N(0, 0.02) (the DCGAN recipe), biases zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.common import (
    build,
    conv,
    embedding,
    labels_for,
    linear,
    normal_002,
    num_doublings,
    record_size,
    scaled,
)


class DCGANGenerator(nn.Module):
    """DCGAN-style generator; class-conditional (label embedding joined to z) if ``n_classes > 0``.

    The label embedding is ``Embedding(n_classes, dim_z)``, so the linear layer sees
    ``2 * dim_z`` features when conditional. ``log2(resolution / 4)`` up layers.

    Shapes: ``z`` (B, dim_z), ``y`` (B,) int64 (ignored when unconditional)
    -> images (B, channels, resolution, resolution) in [-1, 1].
    """

    def __init__(
        self,
        resolution: int = 16,
        width: float = 1.0,
        dim_z: int = 64,
        n_classes: int = 0,
        channels: int = 1,
    ) -> None:
        super().__init__()
        record_size(self, resolution, width, n_classes, channels)
        self.dim_z = dim_z
        base = scaled(64, width)
        self.base_channels = 2 * base
        init = normal_002
        self.embed = embedding(n_classes, dim_z, init=init, sn=False) if n_classes else None
        in_features = dim_z * (2 if n_classes else 1)
        # No bias before a batch norm: the norm's own bias makes it redundant.
        self.linear = linear(in_features, 4 * 4 * 2 * base, init=init, sn=False, bias=False)
        self.bn = nn.BatchNorm2d(2 * base)
        layers: list[nn.Module] = []
        ch = 2 * base
        for _ in range(num_doublings(resolution)):
            out = max(base, ch // 2)
            up = nn.ConvTranspose2d(ch, out, 4, stride=2, padding=1, bias=False)
            layers += [build(up, init, sn=False), nn.BatchNorm2d(out), nn.ReLU()]
            ch = out
        self.ups = nn.Sequential(*layers)
        self.out_conv = conv(ch, channels, 3, init=init, sn=False)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            y = labels_for(y, z.shape[0], self.n_classes, type(self).__name__)
            z = torch.cat([z, self.embed(y)], dim=1)
        h = self.linear(z).view(z.shape[0], self.base_channels, 4, 4)
        h = self.ups(F.relu(self.bn(h)))
        return torch.tanh(self.out_conv(h))


class DCGANDiscriminator(nn.Module):
    """DCGAN-style discriminator with spectral norm; projection head if ``n_classes > 0``.

    ``log2(resolution / 4)`` SN conv4x4 stride-2 + LeakyReLU(0.2) blocks to a 4x4 map, flatten
    to ``F = C * 16`` features, SN linear ``F -> 1``, plus ``sum(embed(y) * h)`` with an SN
    ``Embedding(n_classes, F)``.

    Shapes: ``x`` (B, channels, resolution, resolution), ``y`` (B,) int64 (ignored when
    unconditional) -> logits (B,).
    """

    def __init__(
        self, resolution: int = 16, width: float = 1.0, n_classes: int = 0, channels: int = 1
    ) -> None:
        super().__init__()
        record_size(self, resolution, width, n_classes, channels)
        base = scaled(64, width)
        init = normal_002
        layers: list[nn.Module] = []
        ch = channels
        for i in range(num_doublings(resolution)):
            out = base if i == 0 else 2 * base
            down = nn.Conv2d(ch, out, 4, stride=2, padding=1)
            layers += [build(down, init, sn=True), nn.LeakyReLU(0.2)]
            ch = out
        self.features = nn.Sequential(*layers)
        self.num_features = ch * 4 * 4
        self.linear = linear(self.num_features, 1, init=init, sn=True)
        self.embed = (
            embedding(n_classes, self.num_features, init=init, sn=True) if n_classes else None
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).flatten(1)  # (B, F)
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            y = labels_for(y, x.shape[0], self.n_classes, type(self).__name__)
            out = out + (self.embed(y) * h).sum(dim=1)
        return out
