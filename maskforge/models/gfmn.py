"""The GFMN ResNet generator (Generative Feature Matching Networks, 64x64 ResNet variant).

Linear ``dim_z -> 4*4*C0`` (``C0 = round(1024 * width)``), residual up-blocks that halve the
channels each time (1024 -> 512 -> 256 -> 128 -> 64 at 64x64), then BN -> ReLU -> conv3x3 ->
tanh. Unconditional, no spectral norm (GFMN trains G alone, against fixed feature
extractors). Weights are initialised N(0, 0.02), biases zero.
"""

from __future__ import annotations

from maskforge.models.common import check_resolution, check_width, normal_002, num_doublings, scaled
from maskforge.models.resblocks import ResNetGenerator


class GFMNGenerator(ResNetGenerator):
    """GFMN ResNet generator; one channel-halving up-block per doubling from 4x4.

    Channels after block ``i`` are ``max(1, round(1024 * width / 2**(i+1)))``.

    Shapes: ``z`` (B, dim_z), ``y`` ignored -> images (B, channels, resolution, resolution)
    in [-1, 1].
    """

    def __init__(
        self, resolution: int = 64, width: float = 1.0, dim_z: int = 100, channels: int = 3
    ) -> None:
        name = type(self).__name__
        resolution = check_resolution(resolution, name)
        width = check_width(width, name)
        widths = [scaled(1024 / 2**i, width) for i in range(num_doublings(resolution) + 1)]
        super().__init__(widths, resolution=resolution, width=width, dim_z=dim_z, channels=channels, init=normal_002)
