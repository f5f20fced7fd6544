"""BigGAN for CIFAR-10, laid out as in ajbrock/BigGAN-PyTorch's ``launch_cifar_ema.sh``.

That configuration has ``G_ch = D_ch = 64``, no attention, no shared class embedding and no
hierarchical z, and initialises every conv / linear / embedding weight with N(0, 0.02)
("N02"); so do these models (biases start at zero). Spectral norm is on every conv and linear
of both networks and on D's projection embedding, as in the reference; G's class-conditional
batch-norm embeddings are not normalised. At ``width=1`` the parameter counts are
G 4,304,387 and D 4,207,361 (the published ~4.3M / ~4.2M).

Smaller resolutions (4-16 px, e.g. the embedded digits) keep the CIFAR layout: G adds one block
per doubling from 4x4; D downsamples in its first blocks until the map is 8x8. The reference
defines 64 px and above with another table (wider, with attention and a shared embedding):
:mod:`maskforge.models.biggan_imagenet`, which the ``biggan_g`` / ``biggan_d`` components pick
from 64 px on; these classes refuse those sizes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.common import (
    Init,
    conv,
    embedding,
    labels_for,
    linear,
    normal_002,
    num_doublings,
    record_size,
    scaled,
)
from maskforge.models.conditional_bn import MaybeConditionalBatchNorm2d
from maskforge.models.resblocks import DBlock


def _cifar_only(resolution: int, model: str) -> None:
    if resolution > 32:
        raise ValueError(
            f"{model} is BigGAN's CIFAR layout (up to 32 px), got resolution {resolution}; from 64 px the "
            "reference uses its ImageNet layout: BigGANImageNetGenerator / BigGANImageNetDiscriminator "
            "(the biggan_g / biggan_d components pick it by resolution)"
        )


class GBlock(nn.Module):
    """BigGAN generator block: doubles the resolution.

    Residual path: CBN -> ReLU -> nearest x2 -> SN conv3x3 -> CBN -> ReLU -> SN conv3x3.
    Shortcut: nearest x2 -> SN conv1x1. ``norm(channels)`` builds the two batch norms, called as
    ``norm(x, y)`` (default: conditional on the labels ``y``, plain when ``n_classes == 0``).
    Shapes: ``x`` (B, in_ch, H, W), ``y`` (B,) or None (or the norms' conditioning vectors)
    -> (B, out_ch, 2H, 2W).
    """

    def __init__(
        self, in_ch: int, out_ch: int, n_classes: int = 0, *, init: Init = normal_002,
        norm: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        if norm is None:  # class-conditional BN on labels y (or plain BN when n_classes == 0)
            def norm(channels: int) -> nn.Module:
                return MaybeConditionalBatchNorm2d(channels, n_classes, init=init)
        self.bn1 = norm(in_ch)
        self.conv1 = conv(in_ch, out_ch, 3, init=init, sn=True)
        self.bn2 = norm(out_ch)
        self.conv2 = conv(out_ch, out_ch, 3, init=init, sn=True)
        # Always learnable: every block upsamples, so the identity would not fit anyway.
        self.conv_sc = conv(in_ch, out_ch, 1, init=init, sn=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, y)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class BigGANGenerator(nn.Module):
    """BigGAN generator (CIFAR-10 layout); class-conditional unless ``n_classes == 0``.

    SN linear ``dim_z -> 4*4*(4ch)``, one :class:`GBlock` (4ch -> 4ch) per doubling, then
    BatchNorm2d -> ReLU -> SN conv3x3 -> tanh, with ``ch = round(64 * width)``.
    Init: N(0, 0.02) weights, zero biases.

    Shapes: ``z`` (B, dim_z), ``y`` (B,) int64 labels (ignored when unconditional)
    -> images (B, channels, resolution, resolution) in [-1, 1].
    """

    def __init__(
        self,
        resolution: int = 32,
        width: float = 1.0,
        dim_z: int = 128,
        n_classes: int = 10,
        channels: int = 3,
    ) -> None:
        super().__init__()
        record_size(self, resolution, width, n_classes, channels)
        _cifar_only(resolution, type(self).__name__)
        self.dim_z = dim_z
        ch = 4 * scaled(64, width)
        self.base_channels = ch
        init = normal_002
        self.linear = linear(dim_z, 4 * 4 * ch, init=init, sn=True)
        self.blocks = nn.ModuleList(
            GBlock(ch, ch, n_classes, init=init) for _ in range(num_doublings(resolution))
        )
        self.out_bn = nn.BatchNorm2d(ch)
        self.out_conv = conv(ch, channels, 3, init=init, sn=True)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            y = labels_for(y, z.shape[0], self.n_classes, type(self).__name__)
        else:
            y = None  # unconditional: labels, if any, are ignored
        h = self.linear(z).view(z.shape[0], self.base_channels, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class BigGANDiscriminator(nn.Module):
    """BigGAN discriminator (CIFAR-10 layout) with a projection head when conditional.

    :class:`DBlock` s ``channels -> 4ch -> 4ch -> 4ch -> 4ch`` (``ch = round(64 * width)``),
    downsampling in the first blocks until the map is 8x8 (two of them at 32x32), the first
    block not pre-activated; then ReLU, sum over space, SN linear ``4ch -> 1``, plus
    ``sum(embed(y) * h)`` with an SN ``Embedding(n_classes, 4ch)`` when ``n_classes > 0``.
    Init: N(0, 0.02) weights, zero biases.

    Shapes: ``x`` (B, channels, resolution, resolution), ``y`` (B,) int64 (ignored when
    unconditional) -> logits (B,).
    """

    def __init__(
        self, resolution: int = 32, width: float = 1.0, n_classes: int = 10, channels: int = 3
    ) -> None:
        super().__init__()
        record_size(self, resolution, width, n_classes, channels)
        _cifar_only(resolution, type(self).__name__)
        ch = 4 * scaled(64, width)
        init = normal_002
        # Stop pooling at 8x8 (CIFAR: 32 -> 16 -> 8), as the reference does.
        n_down = max(0, num_doublings(resolution) - 1)
        n_blocks = max(4, n_down)
        self.blocks = nn.ModuleList(
            DBlock(
                channels if i == 0 else ch,
                ch,
                preactivation=i > 0,
                downsample=i < n_down,
                init=init,
            )
            for i in range(n_blocks)
        )
        self.linear = linear(ch, 1, init=init, sn=True)
        self.embed = embedding(n_classes, ch, init=init, sn=True) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for block in self.blocks:
            h = block(h)
        return projection_logits(self, h, y)


def projection_logits(d: nn.Module, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """BigGAN's discriminator head on the last feature map ``h`` (B, C, H, W): ReLU, sum over
    space, ``d.linear`` to one logit, plus ``sum(d.embed(y) * h)`` (the projection) when ``d`` is
    class-conditional. Returns logits (B,)."""
    h = F.relu(h).sum(dim=(2, 3))
    out = d.linear(h).squeeze(1)
    if d.embed is not None:
        y = labels_for(y, h.shape[0], d.n_classes, type(d).__name__)
        out = out + (d.embed(y) * h).sum(dim=1)
    return out
