"""Strategies whose mask is chosen once: ``static``, ``pf`` (prune-and-finetune), ``random``.

* ``static`` — the Static Sparse GAN baseline (STU-GAN section 5.1): a random ERK mask at
  initialisation, never changed; only the weights train.
* ``pf`` — one-shot magnitude pruning of a trained model to the target density, globally
  (``allocator="global"``) or per layer (``allocator="uniform"``), then fine-tuning with the
  mask fixed (STU-GAN section 3.2, Table 1 "PF (global)/(uniform)"). Load the trained weights
  before ``attach``.
* ``random`` — random pruning at a given allocation (uniform by default): the random-pruning
  baseline of both papers. Its ``weight_init`` (``keep``, ``signed_constant``,
  ``kaiming_normal``) re-draws the sparsified weights first, so the SLT comparison (Fig. 8)
  prunes the same kind of random network as ``edge_popup``.
"""

from __future__ import annotations

import attrs
from torch import nn

from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.strategy.masked import MaskedStrategy

from .weight_init import WEIGHT_INITS, init_weight


def static(**options) -> MaskedStrategy:
    """Static sparse training: a random mask from the allocator (ERK by default), never updated."""
    return MaskedStrategy(**options)


def prune_finetune(**options) -> MaskedStrategy:
    """PF: one-shot magnitude pruning (global by default, or uniform) of a trained model."""
    return MaskedStrategy(**{"allocator": "global", "init_score": "magnitude", **options})


@attrs.define(kw_only=True)
class RandomPruning(MaskedStrategy):
    """A random mask; with ``weight_init`` other than ``keep``, over re-drawn random weights."""

    allocator: str = "uniform"
    weight_init: str = attrs.field(default="keep", validator=attrs.validators.in_(WEIGHT_INITS))

    def attach(self, model: nn.Module, **kwargs) -> None:
        if self.weight_init != "keep":
            self._set_context(model, **kwargs)
            params = dict(model.named_parameters())
            for name in self.allocation_for(model).counts:
                init_weight(params[name], self.weight_init, self.generator)
            kwargs["generator"] = self.generator
        super().attach(model, **kwargs)


def random_pruning(**options) -> MaskedStrategy:
    """Random pruning at a given allocation (uniform by default)."""
    return RandomPruning(**{"init_score": "random", **options})


@hookimpl
def maskforge_register(registry):
    registry.register("strategy", "static", static)
    registry.register("strategy", "pf", prune_finetune)
    registry.register("strategy", "random", random_pruning)
