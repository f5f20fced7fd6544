"""SNGAN for CIFAR-10 with the GAN-LTH settings (AutoGAN's ``sngan_cifar10`` models).

Generator: ``gf_dim = 256``, latent 128, three residual up-blocks, batch norm, *no* spectral
norm. Discriminator: ``df_dim = 128``, an optimised first block, spectral norm on every conv
and linear, and a bias-free output linear (as in the reference). Both are unconditional.
Initialisation as GAN-LTH's ``generate_initial_weights.py`` with ``--init_type xavier_uniform``:
Xavier-uniform conv weights; linear layers and every bias as PyTorch draws them for a new layer;
batch-norm scales N(1, 0.02) and shifts 0 (:func:`gan_lth_init`). At ``width=1`` the parameter counts are G 4,276,739 and D 1,053,824 (~4.28M / ~1.05M).

Other resolutions: G adds one up-block per doubling from 4x4; D downsamples in its first
blocks until the map is 8x8 (adding blocks beyond four if needed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.common import (
    check_resolution,
    check_width,
    keep_default,
    linear,
    num_doublings,
    pytorch_default_bias_,
    record_size,
    scaled,
    xavier_uniform,
)
from maskforge.models.resblocks import DBlock, ResNetGenerator


class SNGANGenerator(ResNetGenerator):
    """SNGAN generator (GAN-LTH CIFAR-10 settings), unconditional, no spectral norm.

    Linear ``dim_z -> 4*4*gf`` (``gf = round(256 * width)``), one residual up-block
    (gf -> gf) per doubling, then BN -> ReLU -> conv3x3 -> tanh.
    Init: :func:`gan_lth_init`.

    Shapes: ``z`` (B, dim_z), ``y`` ignored -> images (B, channels, resolution, resolution)
    in [-1, 1].
    """

    def __init__(
        self, resolution: int = 32, width: float = 1.0, dim_z: int = 128, channels: int = 3
    ) -> None:
        name = type(self).__name__
        resolution = check_resolution(resolution, name)
        width = check_width(width, name)
        gf = scaled(256, width)
        widths = [gf] * (num_doublings(resolution) + 1)
        super().__init__(widths, resolution=resolution, width=width, dim_z=dim_z, channels=channels, init=xavier_uniform)
        gan_lth_init(self)


class SNGANDiscriminator(nn.Module):
    """SNGAN discriminator (GAN-LTH CIFAR-10 settings), unconditional, spectral norm throughout.

    An "optimised" first :class:`~maskforge.models.resblocks.DBlock` (not pre-activated,
    channels -> df, ``df = round(128 * width)``), then pre-activated ``DBlock`` s df -> df,
    downsampling in the first blocks until the map is 8x8 (at 32x32: the first two); then ReLU,
    sum over space, SN linear ``df -> 1`` (no bias).
    Init: :func:`gan_lth_init`.

    Shapes: ``x`` (B, channels, resolution, resolution), ``y`` ignored -> logits (B,).
    """

    def __init__(self, resolution: int = 32, width: float = 1.0, channels: int = 3) -> None:
        super().__init__()
        record_size(self, resolution, width, 0, channels)
        df = scaled(128, width)
        init = xavier_uniform
        n_down = max(0, num_doublings(resolution) - 1)  # stop pooling at 8x8
        n_blocks = max(4, n_down)
        blocks = [
            DBlock(channels if i == 0 else df, df, preactivation=i > 0, downsample=i < n_down, init=init)
            for i in range(n_blocks)
        ]
        self.blocks = nn.Sequential(*blocks)
        self.linear = linear(df, 1, init=keep_default, sn=True, bias=False)
        gan_lth_init(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # (B, df)
        return self.linear(h).squeeze(1)


def gan_lth_init(model: nn.Module) -> None:
    """GAN-LTH's SNGAN initialisation, completed after construction: conv weights stay
    Xavier-uniform (set before spectral norm); conv biases are redrawn as PyTorch draws them; a
    linear layer without spectral norm is reset to PyTorch's default (one with it is built with
    :func:`~maskforge.models.common.keep_default`, so its power iteration saw that weight);
    batch-norm scales are drawn from N(1, 0.02), shifts set to 0."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                pytorch_default_bias_(module)
            elif isinstance(module, nn.Linear) and not hasattr(module, "parametrizations"):
                module.reset_parameters()
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)
