"""MMD moment matching on fixed features (GFMN; SLT eq. 3).

``L = sum_j ||mu_r^j - mu_f^j||^2 + ||var_r^j - var_f^j||^2`` over the feature layers j of a
fixed network (VGG19's first 16 ReLUs). The real moments are estimated across batches:

* ``tracker="adam"`` (GFMN's ADAM moving average, the default): for each layer a moving average
  ``v`` of the moment *difference* ``Δ = m_real - m_fake`` is trained with Adam on
  ``0.5 * ||v - Δ||^2``; the generator follows ``-v · m_fake`` (its gradient ``-v · dm_fake/dθ``).
  This keeps small batches stable.
* ``tracker="ema"``: exponential moving averages of the real moments, then eq. 3 directly.

The returned loss always *has the value* of eq. 3 with the current batch (for logging); with
the Adam tracker its gradient is the moving-average one.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn


def moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and (biased) variance over the batch: two (D,) tensors."""
    mean = features.mean(0)
    return mean, (features - mean).pow(2).mean(0)


@attrs.define(eq=False)
class MomentMatchingLoss:
    """Moment matching of mean and variance on ``features(images)`` (a list of (B, D_j))."""

    features: nn.Module
    tracker: str = attrs.field(default="adam", validator=attrs.validators.in_(("adam", "ema")))
    lr: float = 1e-5
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.99
    _state: list | None = attrs.field(default=None, init=False)
    _optimizer: torch.optim.Optimizer | None = attrs.field(default=None, init=False)

    def _init_state(self, real: list[torch.Tensor]) -> None:
        if self.tracker == "adam":
            self._state = [nn.Parameter(torch.zeros(2, f.shape[1], device=f.device)) for f in real]
            self._optimizer = torch.optim.Adam(self._state, lr=self.lr, betas=(self.beta1, self.beta2))
        else:
            self._state = [torch.stack(moments(f.detach())) for f in real]

    def __call__(self, real_images: torch.Tensor, fake_images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            real = self.features(real_images)
        fake = self.features(fake_images)
        if self._state is None:
            self._init_state(real)
        pairs = [(torch.stack(moments(r)), torch.stack(moments(f))) for r, f in zip(real, fake)]
        value = sum((m_real - m_fake).pow(2).sum() for m_real, m_fake in pairs)
        if self.tracker == "ema":
            total = fake_images.new_zeros(())
            for ema, (m_real, m_fake) in zip(self._state, pairs):
                ema.mul_(self.ema_decay).add_(m_real, alpha=1 - self.ema_decay)
                total = total + (ema - m_fake).pow(2).sum()
            return total
        # Adam moving averages v of the moment differences; the generator follows -v . m_fake.
        self._optimizer.zero_grad(set_to_none=True)
        for v, (m_real, m_fake) in zip(self._state, pairs):
            (0.5 * (v - (m_real - m_fake).detach()).pow(2).sum()).backward()
        self._optimizer.step()
        surrogate = -sum((v.detach().clone() * m_fake).sum() for v, (_, m_fake) in zip(self._state, pairs))
        return surrogate + (value - surrogate).detach()

    def state_dict(self) -> dict:
        if self._state is None:
            return {}
        state = {"tensors": [t.detach().clone() for t in self._state]}
        if self._optimizer is not None:
            state["optimizer"] = self._optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        tensors = state["tensors"]
        if self.tracker == "adam":
            self._state = [nn.Parameter(t.clone()) for t in tensors]
            self._optimizer = torch.optim.Adam(self._state, lr=self.lr, betas=(self.beta1, self.beta2))
            self._optimizer.load_state_dict(state["optimizer"])
        else:
            self._state = [t.clone() for t in tensors]
