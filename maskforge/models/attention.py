"""Self-attention for convolutional GANs (SAGAN), as BigGAN places it at 64x64."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.models.common import Init, conv


class SelfAttention(nn.Module):
    """``x + gamma * o(attend(x))`` over the spatial positions of a feature map.

    Queries ``theta`` and keys ``phi`` have ``C/8`` channels, values ``g`` have ``C/2``; keys and
    values are max-pooled 2x2, so each of the ``H*W`` positions attends to ``H*W/4`` others. All
    four 1x1 convolutions are spectral-normalised and bias-free; ``gamma`` starts at 0, so a new
    block is the identity.

    Shapes: (B, C, H, W) with even H and W -> (B, C, H, W).
    """

    def __init__(self, channels: int, *, init: Init) -> None:
        super().__init__()
        key, value = max(1, channels // 8), max(1, channels // 2)
        self.theta = conv(channels, key, 1, init=init, sn=True, bias=False)
        self.phi = conv(channels, key, 1, init=init, sn=True, bias=False)
        self.g = conv(channels, value, 1, init=init, sn=True, bias=False)
        self.o = conv(value, channels, 1, init=init, sn=True, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        query = self.theta(x).flatten(2)  # (B, C/8, HW)
        key = F.max_pool2d(self.phi(x), 2).flatten(2)  # (B, C/8, HW/4)
        value = F.max_pool2d(self.g(x), 2).flatten(2)  # (B, C/2, HW/4)
        weights = torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=-1)  # (B, HW, HW/4)
        attended = torch.bmm(value, weights.transpose(1, 2)).view(b, -1, h, w)
        return x + self.gamma * self.o(attended)
