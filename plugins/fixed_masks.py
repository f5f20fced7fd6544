"""Strategies whose mask is chosen once: ``static``, ``pf`` (prune-and-finetune), ``random``.

* ``static`` — the Static Sparse GAN baseline (STU-GAN section 5.1): a random ERK mask at
  initialisation, never changed; only the weights train.
* ``pf`` — one-shot magnitude pruning of a trained model to the target density, globally
  (``allocator="global"``) or per layer (``allocator="uniform"``), then fine-tuning with the
  mask fixed (STU-GAN section 3.2, Table 1 "PF (global)/(uniform)"). Load the trained weights
  before ``attach``.
* ``random`` — random pruning at a given allocation (uniform by default): the random-pruning
  baseline of both papers.
"""

from __future__ import annotations

from maskforge.hookspecs import hookimpl
from maskforge.strategy import MaskedStrategy


def static(**options) -> MaskedStrategy:
    """Static sparse training: a random mask from the allocator (ERK by default), never updated."""
    return MaskedStrategy(**options)


def prune_finetune(**options) -> MaskedStrategy:
    """PF: one-shot magnitude pruning (global by default, or uniform) of a trained model."""
    return MaskedStrategy(**{"allocator": "global", "init_score": "magnitude", **options})


def random_pruning(**options) -> MaskedStrategy:
    """Random pruning at a given allocation (uniform by default)."""
    return MaskedStrategy(**{"allocator": "uniform", "init_score": "random", **options})


@hookimpl
def maskforge_register(registry):
    registry.register("strategy", "static", static)
    registry.register("strategy", "pf", prune_finetune)
    registry.register("strategy", "random", random_pruning)
