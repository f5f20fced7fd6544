"""The GAN model zoo as ``model`` components: BigGAN, SNGAN, GFMN and DCGAN.

* ``biggan_g`` / ``biggan_d`` — BigGAN (class-conditional by default): the reference's CIFAR-10
  layout up to 32 px, its ImageNet layout (attention, shared embedding, hierarchical z) from 64 px.
* ``sngan_g`` / ``sngan_d`` — SNGAN with the GAN-LTH CIFAR-10 settings (unconditional).
* ``gfmn_g`` — the GFMN ResNet generator (64x64 by default; GFMN has no discriminator).
* ``dcgan_g`` / ``dcgan_d`` — a small DCGAN-style pair for the embedded 16x16 digits.

Options are the constructor arguments (``resolution``, ``width``, ``dim_z``, ``n_classes``,
``channels``; for the BigGAN ImageNet layout also ``shared_dim``, ``hierarchical``, ``attention``,
``init``); see :mod:`maskforge.models`.
"""

from __future__ import annotations

from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    GFMNGenerator,
    SNGANDiscriminator,
    SNGANGenerator,
    biggan_discriminator,
    biggan_generator,
)


@hookimpl
def maskforge_register(registry):
    registry.register("model", "biggan_g", biggan_generator)
    registry.register("model", "biggan_d", biggan_discriminator)
    registry.register("model", "sngan_g", SNGANGenerator)
    registry.register("model", "sngan_d", SNGANDiscriminator)
    registry.register("model", "gfmn_g", GFMNGenerator)
    registry.register("model", "dcgan_g", DCGANGenerator)
    registry.register("model", "dcgan_d", DCGANDiscriminator)
