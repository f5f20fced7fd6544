"""Conditional batch normalisation (BigGAN's ``ccbn``): gains and biases per class looked up in
embeddings (the CIFAR layout), or projected from a conditioning vector (the ImageNet layout,
whose vector is a shared class embedding and a slice of z)."""

from __future__ import annotations

import torch
from torch import nn

from maskforge.models.common import Init, embedding, linear, normal_002


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d whose affine gain and bias are looked up per class.

    ``out = BN(x) * (1 + gain[y]) + bias[y]`` with ``BN`` = ``BatchNorm2d(affine=False)`` and
    ``gain``, ``bias`` = ``Embedding(n_classes, C)``. The gain is stored as an offset from 1 so
    that a zero-ish initialisation starts as plain batch norm.

    Shapes: ``x`` (B, C, H, W), ``y`` (B,) int64 -> (B, C, H, W).
    """

    def __init__(self, num_features: int, n_classes: int, *, init: Init = normal_002) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        # Not spectral-normalised: BigGAN applies SN to G's convs and linears only.
        self.gain = embedding(n_classes, num_features, init=init, sn=False)
        self.bias = embedding(n_classes, num_features, init=init, sn=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gain = (1.0 + self.gain(y))[:, :, None, None]
        bias = self.bias(y)[:, :, None, None]
        return self.bn(x) * gain + bias


class MaybeConditionalBatchNorm2d(nn.Module):
    """Conditional BN when ``n_classes > 0``, else plain affine BatchNorm2d (``y`` ignored).

    Lets a block be written once for both the conditional and the unconditional model.
    Shapes: ``x`` (B, C, H, W), ``y`` (B,) or None -> (B, C, H, W).
    """

    def __init__(self, num_features: int, n_classes: int, *, init: Init = normal_002) -> None:
        super().__init__()
        self.conditional = n_classes > 0
        self.norm: nn.Module = (
            ConditionalBatchNorm2d(num_features, n_classes, init=init)
            if self.conditional
            else nn.BatchNorm2d(num_features)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm(x, y) if self.conditional else self.norm(x)


class ProjectedConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d whose affine gain and bias are linear in a conditioning vector ``c``.

    ``out = BN(x) * (1 + W_g c) + W_b c`` with ``BN`` = ``BatchNorm2d(affine=False)`` and
    ``W_g``, ``W_b`` spectral-normalised, bias-free ``Linear(cond_dim, C)``, as BigGAN's ``ccbn``
    with a shared embedding. Shapes: ``x`` (B, C, H, W), ``c`` (B, cond_dim) -> (B, C, H, W).
    """

    def __init__(self, num_features: int, cond_dim: int, *, init: Init) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = linear(cond_dim, num_features, init=init, sn=True, bias=False)
        self.bias = linear(cond_dim, num_features, init=init, sn=True, bias=False)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * (1.0 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]
