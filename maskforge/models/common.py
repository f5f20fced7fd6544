"""Helpers shared by the model zoo: argument checks, channel scaling and layer construction.

Layers are built *initialised first, spectral-normalised second*: ``spectral_norm`` runs its
power iteration on the weight it is given, so initialising afterwards would leave the stored
singular vectors describing a weight that no longer exists.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: An in-place initialiser for a weight tensor, e.g. ``nn.init.orthogonal_``.
Init = Callable[[torch.Tensor], object]


def normal_002(weight: torch.Tensor) -> torch.Tensor:
    """N(0, 0.02): the DCGAN / BigGAN-CIFAR ("N02") initialisation."""
    return nn.init.normal_(weight, 0.0, 0.02)


def xavier_uniform(weight: torch.Tensor) -> torch.Tensor:
    """Xavier-uniform with gain 1 (the SNGAN / AutoGAN / GAN-LTH initialisation)."""
    return nn.init.xavier_uniform_(weight, gain=1.0)


def keep_default(weight: torch.Tensor) -> torch.Tensor:
    """Leave the weight as PyTorch initialised it (``kaiming_uniform_(a=sqrt(5))`` for linear and
    conv layers): GAN-LTH's SNGAN initialises only its convolutions."""
    return weight


def pytorch_default_bias_(layer: nn.Module) -> None:
    """Redraw ``layer.bias`` as PyTorch does for a new linear or conv layer: U(-b, b) with
    ``b = 1 / sqrt(fan_in)`` (``build`` zeroes biases; GAN-LTH keeps PyTorch's)."""
    bias = getattr(layer, "bias", None)
    if bias is None:
        return
    weight = layer.parametrizations.weight.original if hasattr(layer, "parametrizations") else layer.weight
    fan_in = weight[0].numel()
    bound = 1.0 / fan_in**0.5 if fan_in else 0.0
    with torch.no_grad():
        nn.init.uniform_(bias, -bound, bound)


def check_resolution(resolution: int, model: str) -> int:
    """Return ``resolution`` if it is 4 * 2**n (n >= 0), else raise a one-line ValueError.

    Every generator starts from a 4x4 feature map and doubles it, so only those sizes exist.
    """
    ok = isinstance(resolution, int) and not isinstance(resolution, bool) and resolution >= 4
    if ok:
        n = resolution // 4
        ok = resolution % 4 == 0 and n & (n - 1) == 0
    if not ok:
        raise ValueError(
            f"{model}: resolution must be 4 * 2**n (4, 8, 16, 32, 64, 128, ...), got {resolution!r}"
        )
    return resolution


def num_doublings(resolution: int) -> int:
    """How many x2 upsamplings take a 4x4 map to ``resolution`` (``log2(resolution / 4)``)."""
    return (resolution // 4).bit_length() - 1


def check_width(width: float, model: str) -> float:
    """``width`` (the channel multiplier) must be a positive number."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(
            f"{model}: width must be a number > 0 (1.0 = published size), got {width!r}"
        )
    return float(width)


def check_n_classes(n_classes: int, model: str) -> int:
    """``n_classes`` must be a non-negative int; 0 means unconditional."""
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or n_classes < 0:
        raise ValueError(
            f"{model}: n_classes must be an int >= 0 (0 = unconditional), got {n_classes!r}"
        )
    return n_classes


def record_size(model: nn.Module, resolution: int, width: float, n_classes: int, channels: int) -> None:
    """Check and store the size arguments every generator and discriminator takes (errors name
    the model's class): ``resolution``, ``width``, ``n_classes``, ``channels``."""
    name = type(model).__name__
    model.resolution = check_resolution(resolution, name)
    model.width = check_width(width, name)
    model.n_classes = check_n_classes(n_classes, name)
    model.channels = channels


def scaled(base: float, width: float) -> int:
    """``round(base * width)``, at least 1, so tiny test variants never lose a layer."""
    return max(1, round(base * width))


def build(layer: nn.Module, init: Init, sn: bool) -> nn.Module:
    """Initialise ``layer.weight`` with ``init``, zero its bias, then optionally spectral-normalise.

    With ``sn=True`` the trainable weight is ``<layer>.parametrizations.weight.original``.
    """
    with torch.no_grad():
        init(layer.weight)
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.zero_()
    return spectral_norm(layer) if sn else layer


def conv(
    in_ch: int, out_ch: int, kernel: int, *, init: Init, sn: bool, bias: bool = True
) -> nn.Module:
    """A stride-1 ``kernel`` x ``kernel`` convolution with "same" padding (kernel 1 or 3)."""
    return build(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=bias), init, sn)


def linear(in_f: int, out_f: int, *, init: Init, sn: bool, bias: bool = True) -> nn.Module:
    """A linear layer, initialised and optionally spectral-normalised."""
    return build(nn.Linear(in_f, out_f, bias=bias), init, sn)


def embedding(n: int, dim: int, *, init: Init, sn: bool) -> nn.Module:
    """An embedding table ``(n, dim)``, initialised and optionally spectral-normalised."""
    return build(nn.Embedding(n, dim), init, sn)


def labels_for(y: torch.Tensor | None, batch: int, n_classes: int, model: str) -> torch.Tensor:
    """Validate class labels ``y`` of shape ``(batch,)`` for a conditional model."""
    if y is None:
        raise ValueError(
            f"{model} is class-conditional (n_classes={n_classes}): pass labels y of shape (B,)"
        )
    if y.shape != (batch,):
        raise ValueError(f"{model}: labels y must have shape ({batch},), got {tuple(y.shape)}")
    return y.long()
