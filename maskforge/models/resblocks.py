"""Residual blocks shared by several models: the plain (unconditional, BatchNorm) up-block of the
SNGAN and GFMN generators, and the spectral-norm down-block of the BigGAN and SNGAN discriminators."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.common import Init, conv


class UpBlock(nn.Module):
    """Residual generator block that doubles the resolution (no spectral norm).

    Residual path: BN -> ReLU -> nearest x2 -> conv3x3 -> BN -> ReLU -> conv3x3.
    Shortcut: nearest x2 -> conv1x1.
    Shapes: (B, in_ch, H, W) -> (B, out_ch, 2H, 2W).
    """

    def __init__(self, in_ch: int, out_ch: int, *, init: Init) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_ch)
        self.conv1 = conv(in_ch, out_ch, 3, init=init, sn=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.conv2 = conv(out_ch, out_ch, 3, init=init, sn=False)
        # Learnable because the block upsamples (the SNGAN rule: in != out or upsample).
        self.conv_sc = conv(in_ch, out_ch, 1, init=init, sn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """Spectral-norm residual discriminator block (BigGAN's, and SNGAN's with Xavier init).

    Residual path: [ReLU] -> SN conv3x3 -> ReLU -> SN conv3x3 -> [avg-pool 2].
    Shortcut: SN conv1x1 (only when channels change or the block downsamples), placed before
    the pooling in pre-activated blocks and after it in the first (not pre-activated) block, as
    in BigGAN and SNGAN (whose "optimised" first block is this one with ``preactivation=False``).
    Shapes: (B, in_ch, H, W) -> (B, out_ch, H/2, W/2) if ``downsample`` else (B, out_ch, H, W).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        *,
        preactivation: bool,
        downsample: bool,
        init: Init,
    ) -> None:
        super().__init__()
        self.preactivation = preactivation
        self.downsample = downsample
        self.conv1 = conv(in_ch, out_ch, 3, init=init, sn=True)
        self.conv2 = conv(out_ch, out_ch, 3, init=init, sn=True)
        self.conv_sc = (
            conv(in_ch, out_ch, 1, init=init, sn=True) if (in_ch != out_ch or downsample) else None
        )

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_sc is None:
            return x
        if self.preactivation:
            return self._pool(self.conv_sc(x))
        return self.conv_sc(self._pool(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        return h + self._shortcut(x)


class ResNetGenerator(nn.Module):
    """The unconditional ResNet generator shared by SNGAN and GFMN.

    Linear ``dim_z -> 4*4*widths[0]``, one :class:`UpBlock` ``widths[i] -> widths[i+1]`` per
    doubling, then BN -> ReLU -> conv3x3 -> tanh. Subclasses choose the widths and the init.

    Shapes: ``z`` (B, dim_z), ``y`` ignored -> images (B, channels, resolution, resolution)
    in [-1, 1].
    """

    def __init__(self, widths: list[int], *, resolution: int, width: float, dim_z: int, channels: int, init: Init,
                 linear_bias: bool = True):
        super().__init__()
        from maskforge.models.common import linear  # local: common imports nothing from here

        self.resolution, self.width, self.n_classes = resolution, width, 0
        self.dim_z, self.channels = dim_z, channels
        self.base_channels = widths[0]
        self.linear = linear(dim_z, 4 * 4 * widths[0], init=init, sn=False, bias=linear_bias)
        self.blocks = nn.Sequential(*(UpBlock(a, b, init=init) for a, b in itertools.pairwise(widths)))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = conv(widths[-1], channels, 3, init=init, sn=False)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.blocks(self.linear(z).view(z.shape[0], self.base_channels, 4, 4))
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))
