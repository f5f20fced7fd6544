"""The GAN model zoo as ``model`` components: BigGAN, SNGAN, GFMN and DCGAN.

* ``biggan_g`` / ``biggan_d`` — BigGAN, CIFAR-10 layout (class-conditional by default).
* ``sngan_g`` / ``sngan_d`` — SNGAN with the GAN-LTH CIFAR-10 settings (unconditional).
* ``gfmn_g`` — the GFMN ResNet generator (64x64 by default; GFMN has no discriminator).
* ``dcgan_g`` / ``dcgan_d`` — a small DCGAN-style pair for the embedded 16x16 digits.

Options are the constructor arguments (``resolution``, ``width``, ``dim_z``, ``n_classes``,
``channels``); see :mod:`maskforge.models`.
"""

from __future__ import annotations

from maskforge.hookspecs import hookimpl
from maskforge.models import (
    BigGANDiscriminator,
    BigGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    GFMNGenerator,
    SNGANDiscriminator,
    SNGANGenerator,
)


@hookimpl
def maskforge_register(registry):
    registry.register("model", "biggan_g", BigGANGenerator)
    registry.register("model", "biggan_d", BigGANDiscriminator)
    registry.register("model", "sngan_g", SNGANGenerator)
    registry.register("model", "sngan_d", SNGANDiscriminator)
    registry.register("model", "gfmn_g", GFMNGenerator)
    registry.register("model", "dcgan_g", DCGANGenerator)
    registry.register("model", "dcgan_d", DCGANDiscriminator)
