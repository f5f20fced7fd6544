"""Adversarial losses on discriminator logits.

* :class:`HingeLoss` — D: ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``; G: ``-E[D(G(z))]``
  (BigGAN, SNGAN).
* :class:`NonSaturatingLoss` — D: ``softplus(-D(x)) + softplus(D(G(z)))``; G:
  ``softplus(-D(G(z)))`` (Goodfellow et al.'s non-saturating generator loss, STU eq. 1).
"""

from __future__ import annotations

from typing import Protocol

import attrs
import torch
import torch.nn.functional as F


class AdversarialLoss(Protocol):
    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor: ...

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor: ...


@attrs.frozen
class HingeLoss:
    """Hinge loss (Lim & Ye; Miyato et al.)."""

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


@attrs.frozen
class NonSaturatingLoss:
    """The original GAN objective with the non-saturating generator loss."""

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()
