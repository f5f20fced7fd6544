"""One prune-and-grow mask update (STU-GAN Algorithm 1, lines 6-8; RigL; SET).

:func:`prune_and_grow` drops ``round(drop_fraction * nnz)`` active entries with the pruner and
grows the same number of inactive entries with the grower, per parameter or (``pooled``)
globally, then hands both to the engine, which validates and applies them. Call it after
``backward()`` and before ``optimizer.step()`` so gradient-based growers see the dense gradient.
"""

from __future__ import annotations

import torch

from maskforge.errors import describe
from maskforge.sparsity.engine import MaskUpdateStats, SparseEngine
from maskforge.sparsity.protocols import Count, Grower, Pruner


def drop_counts(nnz: dict[str, int], drop_fraction: float, pooled: bool) -> Count:
    """Entries to drop: ``round(drop_fraction * nnz)`` per parameter, or of the total if pooled."""
    if not (0.0 <= drop_fraction < 1.0):
        raise ValueError(f"drop_fraction must be in [0, 1) (share of active weights removed per update), got {drop_fraction!r}")
    if pooled:
        return round(drop_fraction * sum(nnz.values()))
    return {n: round(drop_fraction * c) for n, c in nnz.items()}


def prune_and_grow(
    engine: SparseEngine,
    pruner: Pruner,
    grower: Grower,
    drop_fraction: float,
    *,
    pooled: bool = False,
    step: int = 0,
    generator: torch.Generator | None = None,
    component: str | None = None,
) -> MaskUpdateStats:
    """Drop then regrow the same number of entries; returns the update's statistics.

    Errors name the pruner or the grower that broke an invariant (with the plugin that
    registered it, for components made by the registry); ``component`` labels the statistics.
    """
    ctx = engine.context(step=step, generator=generator)
    count = drop_counts(ctx.mask.nnz(), drop_fraction, pooled)
    drop_by, grow_by = describe(pruner, "pruner"), describe(grower, "grower")
    drop = pruner.drop(ctx, count)
    # The grower is asked for as many as were requested from the pruner; a pruner that drops
    # another number is caught by the engine (expected_drop), naming it.
    grow = grower.grow(ctx, ctx.mask - drop, count)
    return engine.apply_update(
        drop, grow, component=component or f"{drop_by} + {grow_by}", drop_component=drop_by,
        grow_component=grow_by, step=step, preserve="total" if pooled else "layer", expected_drop=count,
    )
