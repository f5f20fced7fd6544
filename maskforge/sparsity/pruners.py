"""Built-in pruners: drop the lowest-scoring active entries.

A :class:`ScorePruner` ranks only the currently active entries by its score and drops exactly
the requested number with the lowest scores (ties: lowest flat index first), per parameter or
globally. ``magnitude`` is the STU-GAN / RigL / SET criterion (STU-GAN eq. 3).
"""

from __future__ import annotations

import attrs

from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import Count, Score, SparsityContext
from maskforge.sparsity.scores import MagnitudeScore, RandomScore
from maskforge.sparsity.selection import select_count


@attrs.frozen
class ScorePruner:
    """Drops the active entries with the *lowest* ``score`` (exact count, ties by index)."""

    score: Score

    def drop(self, ctx: SparsityContext, count: Count) -> Mask:
        return Mask(select_count(self.score(ctx), count, largest=False, within=ctx.mask))


def magnitude_pruner() -> ScorePruner:
    """Drop the smallest-magnitude active weights."""
    return ScorePruner(MagnitudeScore())


def random_pruner() -> ScorePruner:
    """Drop uniformly random active weights."""
    return ScorePruner(RandomScore())
