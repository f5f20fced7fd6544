"""BigGAN at 64-512 px, laid out as ajbrock/BigGAN-PyTorch's ImageNet models.

The architecture tables (``G_arch`` / ``D_arch`` in the reference's ``BigGAN.py``) and the
128x128 launch settings (``launch_BigGAN_bs256x8.sh``): ``G_ch = D_ch = 96``, a shared class
embedding of 128 dimensions, a hierarchical latent (``dim_z = 120`` split into one chunk for the
first linear layer and one per generator block, each block's batch norms conditioned on
``[shared(y), z_chunk]`` through spectral-normalised linear maps), self-attention at 64x64 in both
networks and orthogonal initialisation. STU-GAN's ImageNet experiments (Table 4, 128x128) use
this model. At 128x128 with 1000 classes and ``width=1`` the generator has 70,433,988 parameters
and the discriminator 87,982,370, the counts the reference prints.

The CIFAR layout (:mod:`maskforge.models.biggan`) is a different table: constant ``4 * ch``
channels, no attention, no shared embedding. The ``biggan_g`` / ``biggan_d`` components pick
this layout for 64 px and above.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.attention import SelfAttention
from maskforge.models.biggan import BigGANDiscriminator, BigGANGenerator, GBlock, projection_logits
from maskforge.models.common import (
    Init,
    conv,
    embedding,
    labels_for,
    linear,
    normal_002,
    record_size,
    scaled,
    xavier_uniform,
)
from maskforge.models.conditional_bn import (
    MaybeConditionalBatchNorm2d,
    ProjectedConditionalBatchNorm2d,
)
from maskforge.models.resblocks import DBlock

# Channel multipliers of ``ch`` per block, by resolution (the reference's G_arch / D_arch).
_G_IN = {64: [16, 16, 8, 4], 128: [16, 16, 8, 4, 2], 256: [16, 16, 8, 8, 4, 2], 512: [16, 16, 8, 8, 4, 2, 1]}
_G_OUT = {64: [16, 8, 4, 2], 128: [16, 8, 4, 2, 1], 256: [16, 8, 8, 4, 2, 1], 512: [16, 8, 8, 4, 2, 1, 1]}
_D_OUT = {64: [1, 2, 4, 8, 16], 128: [1, 2, 4, 8, 16, 16], 256: [1, 2, 4, 8, 8, 16, 16],
          512: [1, 1, 2, 4, 8, 8, 16, 16]}


def orthogonal(weight: torch.Tensor) -> torch.Tensor:
    """Orthogonal initialisation (the reference's ``--G_init ortho --D_init ortho``)."""
    return nn.init.orthogonal_(weight)


_INITS = {"ortho": orthogonal, "N02": normal_002, "xavier": xavier_uniform}


def _setup(model: nn.Module, resolution: int, width: float, n_classes: int, channels: int, init: str) -> tuple[Init, int]:
    """Check and record the size arguments; return the weight initialiser and ``ch``."""
    name = type(model).__name__
    record_size(model, resolution, width, n_classes, channels)
    if resolution not in _G_IN:
        raise ValueError(
            f"{name}: the ImageNet layout exists at {sorted(_G_IN)} px, got {resolution!r} "
            "(below 64 px use the CIFAR layout, BigGANGenerator / BigGANDiscriminator)"
        )
    if init not in _INITS:
        raise ValueError(f"{name}: init must be one of {sorted(_INITS)}, got {init!r}")
    return _INITS[init], scaled(96, width)


def _attention_at(attention: Iterable[int]) -> set[int]:
    return {int(r) for r in attention}


class BigGANImageNetGenerator(nn.Module):
    """BigGAN generator, ImageNet layout; class-conditional unless ``n_classes == 0``.

    ``z`` (``dim_z`` entries; with ``hierarchical`` rounded down to a multiple of the number of
    blocks + 1, the chunks) -> SN linear of the first chunk to ``4x4x(16 ch)``; one
    :class:`~maskforge.models.biggan.GBlock` per doubling with channels from the reference table,
    its batch norms conditioned on the shared class embedding and the block's chunk of z;
    :class:`~maskforge.models.attention.SelfAttention` after the blocks whose output resolution
    is in ``attention``; BatchNorm2d -> ReLU -> SN conv3x3 -> tanh. ``ch = round(96 * width)``.
    Without classes and without ``hierarchical`` the batch norms are plain.

    Shapes: ``z`` (B, dim_z), ``y`` (B,) int64 labels (ignored when unconditional)
    -> images (B, channels, resolution, resolution) in [-1, 1].
    """

    def __init__(
        self,
        resolution: int = 128,
        width: float = 1.0,
        dim_z: int = 120,
        n_classes: int = 1000,
        channels: int = 3,
        *,
        shared_dim: int = 128,
        hierarchical: bool = True,
        attention: Iterable[int] = (64,),
        init: str = "ortho",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        weight_init, ch = _setup(self, resolution, width, n_classes, channels, init)
        ins, outs = [ch * m for m in _G_IN[resolution]], [ch * m for m in _G_OUT[resolution]]
        slots = len(ins) + 1 if hierarchical else 1
        if dim_z < slots:
            raise ValueError(f"{name}: dim_z must be at least {slots} (one entry per chunk), got {dim_z!r}")
        self.chunk = dim_z // slots if hierarchical else 0
        self.dim_z = self.chunk * slots if hierarchical else dim_z
        self.hierarchical = hierarchical
        self.base_channels = ins[0]
        self.shared = embedding(n_classes, shared_dim, init=weight_init, sn=False) if n_classes else None
        cond_dim = (shared_dim if n_classes else 0) + self.chunk

        def norm(features: int) -> nn.Module:
            if cond_dim:
                return ProjectedConditionalBatchNorm2d(features, cond_dim, init=weight_init)
            return MaybeConditionalBatchNorm2d(features, 0)

        self.linear = linear(self.dim_z // slots, 4 * 4 * ins[0], init=weight_init, sn=True)
        self.blocks = nn.ModuleList(GBlock(a, b, init=weight_init, norm=norm) for a, b in zip(ins, outs))
        wanted = _attention_at(attention)
        self.attention = nn.ModuleDict({
            str(i): SelfAttention(outs[i], init=weight_init) for i in range(len(outs)) if 8 * 2**i in wanted
        })
        self.out_bn = nn.BatchNorm2d(outs[-1])
        self.out_conv = conv(outs[-1], channels, 3, init=weight_init, sn=True)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        batch = z.shape[0]
        if z.shape[1:] != (self.dim_z,):
            raise ValueError(f"{type(self).__name__}: z must have shape (B, {self.dim_z}), got {tuple(z.shape)}")
        shared = None
        if self.shared is not None:
            shared = self.shared(labels_for(y, batch, self.n_classes, type(self).__name__))
        if self.hierarchical:
            first, *rest = torch.split(z, self.chunk, dim=1)
            conds = [chunk if shared is None else torch.cat([shared, chunk], dim=1) for chunk in rest]
        else:
            first, conds = z, [shared] * len(self.blocks)
        h = self.linear(first).view(batch, self.base_channels, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, conds[i])
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class BigGANImageNetDiscriminator(nn.Module):
    """BigGAN discriminator, ImageNet layout, with a projection head when conditional.

    :class:`~maskforge.models.resblocks.DBlock` s with the reference's channels (``ch, 2ch, 4ch,
    8ch, 16ch, 16ch`` at 128 px), each but the last downsampling, the first not pre-activated;
    :class:`~maskforge.models.attention.SelfAttention` after the blocks whose output resolution
    is in ``attention``; then ReLU, sum over space, SN linear ``16ch -> 1``, plus
    ``sum(embed(y) * h)`` with an SN ``Embedding(n_classes, 16ch)`` when ``n_classes > 0``.
    ``ch = round(96 * width)``.

    Shapes: ``x`` (B, channels, resolution, resolution), ``y`` (B,) int64 (ignored when
    unconditional) -> logits (B,).
    """

    def __init__(
        self,
        resolution: int = 128,
        width: float = 1.0,
        n_classes: int = 1000,
        channels: int = 3,
        *,
        attention: Iterable[int] = (64,),
        init: str = "ortho",
    ) -> None:
        super().__init__()
        weight_init, ch = _setup(self, resolution, width, n_classes, channels, init)
        outs = [ch * m for m in _D_OUT[resolution]]
        ins = [channels, *outs[:-1]]
        n = len(outs)
        self.blocks = nn.ModuleList(
            DBlock(a, b, preactivation=i > 0, downsample=i < n - 1, init=weight_init)
            for i, (a, b) in enumerate(zip(ins, outs))
        )
        wanted = _attention_at(attention)
        # Block i's output is resolution / 2**(i + 1); the last block keeps the 4x4 map.
        self.attention = nn.ModuleDict({
            str(i): SelfAttention(outs[i], init=weight_init)
            for i in range(n) if resolution >> min(i + 1, n - 1) in wanted
        })
        self.linear = linear(outs[-1], 1, init=weight_init, sn=True)
        self.embed = embedding(n_classes, outs[-1], init=weight_init, sn=True) if n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return projection_logits(self, h, y)


def biggan_generator(resolution: int = 32, **options) -> nn.Module:
    """BigGAN's generator in the reference's layout for ``resolution``: the CIFAR layout up to
    32 px, the ImageNet layout from 64 px (the ``biggan_g`` component)."""
    cls = BigGANImageNetGenerator if resolution >= 64 else BigGANGenerator
    return cls(resolution=resolution, **options)


def biggan_discriminator(resolution: int = 32, **options) -> nn.Module:
    """BigGAN's discriminator in the reference's layout for ``resolution`` (the ``biggan_d``
    component): the CIFAR layout up to 32 px, the ImageNet layout from 64 px."""
    cls = BigGANImageNetDiscriminator if resolution >= 64 else BigGANDiscriminator
    return cls(resolution=resolution, **options)
