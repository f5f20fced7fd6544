"""The protocols a plugin implements, and the context they receive.

A component is any object with the right method; nothing needs to subclass anything. Each
protocol is small enough to implement without reading the engine:

* :class:`Score` — ``score(ctx) -> {name: tensor}``: one float tensor per sparsified parameter,
  shaped like it; higher means "more worth keeping / growing".
* :class:`Pruner` — ``drop(ctx, count) -> Mask``: which *active* entries to remove.
* :class:`Grower` — ``grow(ctx, kept, count) -> Mask``: which *inactive* entries to activate.
* :class:`Averager` — running average of a model's weights (EMA, SEMA).
* :class:`Schedule` — ``schedule(step) -> float``: a value (drop fraction, density) over time.

``count`` is either a mapping ``{name: n}`` (exactly ``n`` entries of each parameter) or a
plain ``int`` (exactly that many entries in total, chosen globally over all parameters). The
engine checks every returned mask against these contracts and raises
:class:`~maskforge.errors.InvariantViolation` naming the component when one is broken;
:mod:`maskforge.testing` runs the same checks on random inputs before you ship a plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs
import torch
from torch import nn

from maskforge.sparsity.mask import Mask

Count = Mapping[str, int] | int
"""Per-parameter exact counts, or one global count (selection over all parameters together)."""


@attrs.define
class SparsityContext:
    """Everything a Score, Pruner or Grower may look at during a mask update.

    Attributes:
        params: the sparsified parameters by fully qualified name (weights and their ``.grad``).
        mask: the current mask (active entries are True).
        optimizer: the optimizer bound to the parameters, if any (for momentum scores).
        step: the training step of the network being updated.
        generator: the random generator for random choices; seeded identically on every rank.
        network: which network is being updated (``"G"``, ``"D"``, ``"model"``).
    """

    params: Mapping[str, nn.Parameter]
    mask: Mask
    optimizer: torch.optim.Optimizer | None = None
    step: int = 0
    generator: torch.Generator | None = None
    network: str = "model"


@runtime_checkable
class Score(Protocol):
    """Scores every entry of every sparsified parameter; higher is better."""

    def __call__(self, ctx: SparsityContext) -> dict[str, torch.Tensor]:
        """Return ``{name: scores}`` with one float tensor shaped like each ``ctx.params[name]``."""
        ...


@runtime_checkable
class Pruner(Protocol):
    """Chooses active entries to remove."""

    def drop(self, ctx: SparsityContext, count: Count) -> Mask:
        """Return the entries to drop: a subset of ``ctx.mask`` with exactly ``count`` entries
        per parameter (mapping) or in total (int)."""
        ...


@runtime_checkable
class Grower(Protocol):
    """Chooses inactive entries to activate."""

    def grow(self, ctx: SparsityContext, kept: Mask, count: Count) -> Mask:
        """Return the entries to grow: disjoint from ``kept`` (the mask after the drop), with
        exactly ``count`` entries per parameter (mapping) or in total (int). Entries dropped in
        this same update are inactive in ``kept`` and may be grown again."""
        ...


@runtime_checkable
class Averager(Protocol):
    """A running average of a model's weights (used to sample from G)."""

    def update(self, model: nn.Module, mask: Mask | None, step: int) -> None:
        """Fold the model's current weights into the average after training step ``step``."""
        ...

    def copy_to(self, model: nn.Module) -> None:
        """Write the averaged weights (and buffers) into ``model`` (same architecture)."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: Mapping) -> None: ...


@runtime_checkable
class Schedule(Protocol):
    """A value as a function of the step (drop fraction, density, ...)."""

    def __call__(self, step: int) -> float: ...
