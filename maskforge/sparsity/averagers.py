"""Weight averagers: EMA and SEMA (STU-GAN eq. 5).

Both keep a shadow copy of a model's state (parameters averaged, buffers such as batch-norm
statistics copied) and can write it into a model of the same architecture with ``copy_to``.

* :class:`EMA` — ``avg = beta * avg + (1 - beta) * w`` for every parameter; before
  ``start_step`` the average simply tracks the weights (BigGAN's ``ema_start``).
* :class:`SEMA` — the sparse variant: for masked parameters, an entry inactive now averages to
  0 (``T = 0``), an entry just activated starts at its current value (``T = 1``) instead of
  ``(1 - beta) * w``, and an entry active for longer follows the EMA (``T > 1``). Parameters
  without a mask follow the plain EMA.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import nn

from maskforge.sparsity.mask import Mask


def _check_beta(instance, attribute, value):
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{type(instance).__name__}.beta must be in [0, 1), got {value!r}; e.g. 0.999")


@attrs.define
class EMA:
    """Exponential moving average of a model's parameters (buffers are copied)."""

    beta: float = attrs.field(default=0.999, validator=_check_beta)
    start_step: int = 0
    shadow: dict[str, torch.Tensor] = attrs.field(factory=dict, repr=False)

    @torch.no_grad()
    def update(self, model: nn.Module, mask: Mask | None = None, step: int = 0) -> None:
        params = dict(model.named_parameters(remove_duplicate=False))  # tied weights: every name is averaged
        for name, value in model.state_dict().items():
            value = value.detach()
            current = self.shadow.get(name)
            if (
                current is None
                or name not in params
                or not value.is_floating_point()
                or step < self.start_step
            ):
                self.shadow[name] = value.clone()
            else:
                current.mul_(self.beta).add_(value, alpha=1.0 - self.beta)
        self._after_update(params, mask)

    def _after_update(self, params: Mapping[str, nn.Parameter], mask: Mask | None) -> None:
        """Hook for subclasses (SEMA fixes masked entries here)."""

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        if not self.shadow:
            raise RuntimeError("the averager has no state yet: call update() at least once before copy_to()")
        model.load_state_dict(self.shadow)

    def averaged(self) -> dict[str, torch.Tensor]:
        """The averaged state (a state_dict of the model)."""
        return dict(self.shadow)

    def state_dict(self) -> dict:
        return {"beta": self.beta, "start_step": self.start_step, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: Mapping) -> None:
        self.beta = float(state["beta"])
        self.start_step = int(state["start_step"])
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}


@attrs.define
class SEMA(EMA):
    """Sparse EMA (STU-GAN eq. 5): new entries start at their value, inactive ones are 0."""

    previous: dict[str, torch.Tensor] = attrs.field(factory=dict, repr=False)

    def _after_update(self, params: Mapping[str, nn.Parameter], mask: Mask | None) -> None:
        if mask is None:
            return
        for name, active in mask.items():
            avg = self.shadow[name]
            weight = params[name].detach()
            active = active.to(avg.device)
            before = self.previous.get(name)
            newly = active if before is None else active & ~before
            # T == 1: the average starts at the weight itself; T == 0: the average is zero.
            avg.copy_(torch.where(newly, weight, torch.where(active, avg, torch.zeros((), dtype=avg.dtype, device=avg.device))))
            self.previous[name] = active.clone()

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["previous"] = {k: v.clone() for k, v in self.previous.items()}
        return state

    def load_state_dict(self, state: Mapping) -> None:
        super().load_state_dict(state)
        self.previous = {k: v.clone() for k, v in state.get("previous", {}).items()}
