"""Built-in pruners: drop the lowest-scoring active entries.

A :class:`ScorePruner` ranks only the currently active entries by its score and drops exactly
the requested number with the lowest scores (ties: lowest flat index first), per parameter or
globally. ``magnitude`` is the STU-GAN / RigL / SET criterion (STU-GAN eq. 3).
"""

from __future__ import annotations

import attrs

from maskforge.sparsity.index_selection import select_positions_at
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import Count, Score, SparsityContext
from maskforge.sparsity.scores import MagnitudeScore, RandomScore, score_sources


@attrs.frozen
class ScorePruner:
    """Drops the active entries with the *lowest* ``score`` (exact count, ties by index)."""

    score: Score

    def drop(self, ctx: SparsityContext, count: Count) -> Mask:
        # Only the active entries are ranked: their flat indices are known to the mask, so the
        # scores are read at those positions alone. The answer keeps where the dropped entries sit
        # in the mask's index (the engine updates the index there).
        sources, magnitude = score_sources(self.score, ctx)
        active = {n: ctx.mask.flat_indices(n) for n in ctx.mask}
        chosen = select_positions_at(sources, active, count, largest=False, magnitude=magnitude)
        return Mask.from_positions(ctx.mask, chosen, assume_unique=True)


def magnitude_pruner() -> ScorePruner:
    """Drop the smallest-magnitude active weights."""
    return ScorePruner(MagnitudeScore())


def random_pruner() -> ScorePruner:
    """Drop uniformly random active weights."""
    return ScorePruner(RandomScore())
