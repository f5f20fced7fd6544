"""``mask_bank``: generate with one named mask of a saved bank over the model's own weights.

The SLT paper's multi-domain generation: the same (random or pretrained) weights, one mask per
domain, switched without touching the weights. Options: ``path`` of a bank written by
:meth:`maskforge.strategy.mask_bank.MaskBank.save` and ``name`` of the mask to use. The weights are
frozen; nothing is trained.
"""

from __future__ import annotations

import attrs

from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.sparsity.mask import Mask
from maskforge.strategy.mask_bank import MaskBank
from maskforge.strategy.masked import MaskedStrategy


@attrs.define(kw_only=True)
class MaskBankStrategy(MaskedStrategy):
    """Use mask ``name`` of the bank at ``path`` (forward-time, weights untouched)."""

    path: str
    name: str
    bank: MaskBank | None = attrs.field(default=None, init=False, repr=False)

    def attach(self, model, **kwargs) -> None:
        self._set_context(model, **kwargs)
        self.bank = MaskBank.load(self.path)
        self.bank[self.name].check_model(model)
        for p in model.parameters():
            p.requires_grad_(False)
        self.bank.activate(model, self.name)

    def switch(self, name: str) -> None:
        """Generate with another mask of the bank."""
        self.bank.activate(self._require_model(), name)
        self.name = name

    def trainable_parameters(self):
        return []

    def bind(self, optimizer) -> None:
        self.engine = None

    def current_mask(self) -> Mask:
        return self.bank[self.name]


def mask_bank(**options) -> MaskBankStrategy:
    """Generate with a named mask from a saved mask bank."""
    return MaskBankStrategy(**options)


@hookimpl
def maskforge_register(registry):
    registry.register("strategy", "mask_bank", mask_bank)
