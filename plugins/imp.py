"""``imp``: iterative magnitude pruning with rewinding (Frankle & Carbin; GAN tickets, Chen et al.).

Train, then remove ``prune_fraction`` of the remaining weights with the smallest magnitude
(globally by default, or per layer), rewind the surviving weights to their values at
initialisation (``rewind="init"``) or at step ``k`` of the first round (``rewind=k``), reset the
optimizer state, and train again; ``pruning_rounds`` times. After round ``r`` exactly
``round(n0 * (1 - p) ** r)`` weights remain (per layer, or in total when pooled): targets are
computed from the starting count, not compounded round by round, so rounding never drifts.

Selection is the exact top-k (ties by index): no strict ``>`` threshold that prunes extra
entries. The mask comes from the trained network's own weights; an EMA copy of G is masked with
that same mask, never pruned by its own magnitudes.

GAN tickets' discriminator setting: give D ``imp`` with ``prune_fraction=0`` — it is then reset to
its initial weights every round without being pruned.
"""

from __future__ import annotations

import attrs
import torch

from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import SparsityContext
from maskforge.sparsity.scores import MagnitudeScore
from maskforge.sparsity.selection import select_count
from maskforge.strategy.masked import MaskedStrategy, _fraction


def _rewind(instance, attribute, value):
    if value != "init" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        raise ValueError(f"imp rewind must be 'init' or a step number >= 0, got {value!r}")


@attrs.define(kw_only=True)
class IterativeMagnitudePruning(MaskedStrategy):
    """IMP with rewinding. ``rounds`` (training phases) = ``pruning_rounds + 1``."""

    prune_fraction: float = attrs.field(default=0.2, validator=_fraction)
    pruning_rounds: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    pooled: bool = True
    rewind: str | int = attrs.field(default="init", validator=_rewind)
    _snapshot: dict | None = attrs.field(default=None, init=False, repr=False)
    _start_counts: dict | None = attrs.field(default=None, init=False, repr=False)
    pruned_rounds: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self):
        self.rounds = self.pruning_rounds + 1

    def attach(self, model, **kwargs) -> None:
        super().attach(model, **kwargs)
        self._start_counts = self.current_mask().nnz()
        if self.rewind == "init" or self.rewind == 0:
            self._take_snapshot()

    def _take_snapshot(self) -> None:
        self._snapshot = {k: v.detach().clone() for k, v in self._require_model().state_dict().items()}

    def after_step(self, step: int) -> None:
        if self.pruned_rounds == 0 and self._snapshot is None and step == self.rewind:
            self._take_snapshot()

    def target_counts(self, pruned_rounds: int) -> dict[str, int] | int:
        """Active entries after ``pruned_rounds`` rounds (per layer, or the total if pooled)."""
        keep = (1.0 - self.prune_fraction) ** pruned_rounds
        if self.pooled:
            return round(sum(self._start_counts.values()) * keep)
        return {n: round(c * keep) for n, c in self._start_counts.items()}

    def prune_mask(self) -> Mask:
        """The next round's mask: the largest-magnitude active weights, exact count."""
        ctx = SparsityContext(params=self.engine.params, mask=self.engine.mask, network=self.network)
        scores = MagnitudeScore()(ctx)
        count = self.target_counts(self.pruned_rounds + 1)
        return Mask(select_count(scores, count, largest=True, within=self.engine.mask))

    def end_round(self, round_index: int) -> None:
        if self.pruned_rounds >= self.pruning_rounds:
            return
        if self._snapshot is None:
            raise RuntimeError(
                f"imp was asked to rewind to step {self.rewind} but round 0 ended before that step; "
                "use a smaller rewind step or rewind='init'"
            )
        new = self.prune_mask()
        self.pruned_rounds += 1
        model = self._require_model()
        with torch.no_grad():
            model.load_state_dict(self._snapshot)
        self.engine.set_mask(new, component=f"imp round {self.pruned_rounds}", zero_grown=False)
        if self.engine.optimizer is not None:
            for p in model.parameters():
                self.engine.optimizer.state.pop(p, None)
        self.engine.zero_inactive()

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(pruned_rounds=self.pruned_rounds, start_counts=dict(self._start_counts or {}),
                     snapshot=self._snapshot)
        return state

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.pruned_rounds = int(state["pruned_rounds"])
        self._start_counts = dict(state["start_counts"])
        self._snapshot = state.get("snapshot")


def imp(**options) -> IterativeMagnitudePruning:
    """Iterative magnitude pruning, 20% of the remaining weights per round, rewinding to init."""
    return IterativeMagnitudePruning(**options)


@hookimpl
def maskforge_register(registry):
    registry.register("strategy", "imp", imp)
