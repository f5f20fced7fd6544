"""The GFMN ResNet generator (Generative Feature Matching Networks, 64x64 ResNet variant).

A bias-free linear ``dim_z -> 4*4*C0`` (GFMN's ``ConvTranspose2d(nz, C0, 4, bias=False)`` on a
1x1 input), residual up-blocks that halve the channels each time down to 64 at the output
resolution (1024 -> 512 -> 256 -> 128 -> 64 at 64x64; 512 -> ... -> 64 at 32x32, as GFMN's
filter-size adaptation does), then BN -> ReLU -> conv3x3 -> tanh, every width times ``width``.
Unconditional, no spectral norm (GFMN trains G alone, against fixed feature extractors).
Weights are initialised Xavier-uniform ("when training dense models, the weight of generator
is initialized with Xavier uniform", SLT Appendix B), biases zero.
"""

from __future__ import annotations

from maskforge.models.common import (
    check_resolution,
    check_width,
    num_doublings,
    scaled,
    xavier_uniform,
)
from maskforge.models.resblocks import ResNetGenerator


class GFMNGenerator(ResNetGenerator):
    """GFMN ResNet generator; one channel-halving up-block per doubling from 4x4.

    With ``n`` doublings from 4x4, the widths are ``64 * 2**(n - i) * width`` for ``i = 0..n``.

    Shapes: ``z`` (B, dim_z), ``y`` ignored -> images (B, channels, resolution, resolution)
    in [-1, 1].
    """

    def __init__(
        self, resolution: int = 64, width: float = 1.0, dim_z: int = 100, channels: int = 3
    ) -> None:
        name = type(self).__name__
        resolution = check_resolution(resolution, name)
        width = check_width(width, name)
        n = num_doublings(resolution)
        widths = [scaled(64 * 2 ** (n - i), width) for i in range(n + 1)]
        super().__init__(widths, resolution=resolution, width=width, dim_z=dim_z, channels=channels, init=xavier_uniform,
                         linear_bias=False)
