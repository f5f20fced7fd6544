"""Weight initialisations for subnetworks of *random* networks (SLT paper, Appendix B).

The strong-lottery-ticket experiments prune randomly initialised generators whose weights are
drawn from "Kaiming normal" N_k = N(0, sqrt(2 / n_{l-1})) or "signed Kaiming constant"
U_k = {-σ_k, +σ_k} with σ_k = sqrt(2 / n_{l-1}); ``edge_popup`` searches scores over such weights
and the ``random`` baseline prunes the same kind of network, so both take the same option:

* ``signed_constant`` — U_k, a random sign per entry;
* ``kaiming_normal`` — N_k;
* ``keep`` — leave the weights as they are (a model's own init, or pretrained weights loaded
  before ``attach``).

Only weights with two or more dimensions (conv / linear / embedding) are re-initialised.
"""

from __future__ import annotations

import math

import torch
from torch import nn

WEIGHT_INITS = ("signed_constant", "kaiming_normal", "keep")


def fan_in(weight: torch.Tensor) -> int:
    """Inputs per output unit (n_{l-1}): ``in_features`` or ``in_channels * kernel area``."""
    return nn.init._calculate_correct_fan(weight, "fan_in") if weight.dim() > 1 else weight.numel()


@torch.no_grad()
def init_weight(weight: torch.Tensor, kind: str, generator: torch.Generator, fan_scale: float = 1.0) -> None:
    """Re-initialise ``weight`` in place as ``kind`` (one of :data:`WEIGHT_INITS`); ``fan_scale``
    multiplies the fan (Ramanujan et al.'s scaled variant uses the density)."""
    if kind not in WEIGHT_INITS:
        raise ValueError(f"weight_init must be one of {', '.join(WEIGHT_INITS)}, got {kind!r}")
    if kind == "keep" or weight.dim() < 2:
        return
    std = math.sqrt(2.0) / math.sqrt(fan_in(weight) * fan_scale)
    if kind == "kaiming_normal":
        weight.normal_(0.0, std, generator=generator)
    else:
        signs = torch.randint(0, 2, weight.shape, generator=generator).to(weight.device) * 2 - 1
        weight.copy_(signs.to(weight.dtype) * std)
