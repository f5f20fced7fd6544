"""The GAN model zoo: BigGAN (CIFAR-10 and ImageNet layouts), SNGAN (CIFAR-10), the GFMN ResNet
generator, a small DCGAN.

Every generator has ``forward(z, y=None) -> (B, channels, resolution, resolution)`` in [-1, 1]
and attributes ``dim_z``, ``n_classes`` (0 = unconditional), ``resolution``, ``channels``.
Every discriminator has ``forward(x, y=None) -> logits (B,)`` and attributes ``n_classes``,
``resolution``, ``channels``. Unconditional models ignore ``y``. ``resolution`` must be
4 * 2**n; ``width`` scales every channel count (1.0 = the published size), so tiny variants
(``width=0.0625``) run in milliseconds on a CPU. No pretrained weights are shipped.

They are registered as ``model`` components by the ``models`` plugin: ``biggan_g``,
``biggan_d`` (the CIFAR layout up to 32 px, the ImageNet layout from 64 px), ``sngan_g``,
``sngan_d``, ``gfmn_g``, ``dcgan_g``, ``dcgan_d``.
"""

from maskforge.models.biggan import BigGANDiscriminator, BigGANGenerator
from maskforge.models.biggan_imagenet import (
    BigGANImageNetDiscriminator,
    BigGANImageNetGenerator,
    biggan_discriminator,
    biggan_generator,
)
from maskforge.models.conditional_bn import ConditionalBatchNorm2d
from maskforge.models.dcgan import DCGANDiscriminator, DCGANGenerator
from maskforge.models.gfmn import GFMNGenerator
from maskforge.models.sngan import SNGANDiscriminator, SNGANGenerator

__all__ = [
    "BigGANDiscriminator",
    "BigGANGenerator",
    "BigGANImageNetDiscriminator",
    "BigGANImageNetGenerator",
    "ConditionalBatchNorm2d",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GFMNGenerator",
    "SNGANDiscriminator",
    "SNGANGenerator",
    "biggan_discriminator",
    "biggan_generator",
]
