"""Built-in growers: activate the highest-scoring inactive entries.

A :class:`ScoreGrower` ranks only the entries inactive after the drop (never an active one, so
density cannot drift — the bug of sorting ``|grad| * (mask == 0)``) and grows exactly the
requested number with the highest scores (ties: lowest flat index first). ``gradient`` is the
STU-GAN / RigL criterion (STU-GAN eq. 4); ``random`` is SET's.
"""

from __future__ import annotations

import attrs

from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import Count, Score, SparsityContext
from maskforge.sparsity.scores import GradientMagnitudeScore, MomentumScore, RandomScore
from maskforge.sparsity.selection import select_count


@attrs.frozen
class ScoreGrower:
    """Grows the inactive entries with the *highest* ``score`` (exact count, ties by index)."""

    score: Score

    def grow(self, ctx: SparsityContext, kept: Mask, count: Count) -> Mask:
        return Mask(select_count(self.score(ctx), count, largest=True, within=~kept))


def gradient_grower() -> ScoreGrower:
    """Grow where the dense gradient magnitude is largest (RigL, STU-GAN)."""
    return ScoreGrower(GradientMagnitudeScore())


def momentum_grower() -> ScoreGrower:
    """Grow where the optimizer's momentum magnitude is largest (sparse momentum)."""
    return ScoreGrower(MomentumScore())


def random_grower() -> ScoreGrower:
    """Grow uniformly random inactive entries (SET)."""
    return ScoreGrower(RandomScore())
