"""Dynamic sparse training: ``stu_gan`` (STU-GAN Algorithm 1) and ``set`` (SET, random regrowth).

Every ``update_every`` steps *of the network this strategy is attached to* (ΔT), drop
``drop_fraction(t)`` of the active weights with the lowest pruner score (magnitude: eq. 3) and
regrow as many inactive entries with the highest grower score (gradient magnitude: eq. 4), new
weights at zero with zero optimizer state, per layer or (``pooled``) globally. As in Algorithm 1
(lines 5-8) the update follows the network's optimizer step: it ranks the weights after the step
and grows by the dense gradient of that step, kept before the engine masked it. The drop fraction
decays with a cosine clamped at ``end_step`` (no updates after it). Because the trainer calls a
network's strategy only on that network's own steps, after its own backward, exploration uses
that network's gradients — never a zero G gradient on a D step.
"""

from __future__ import annotations

import attrs

from maskforge.sparsity.engine import MaskUpdateStats
from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.sparsity.schedules import Cadence, Constant, CosineDecay
from maskforge.strategy.masked import MaskedStrategy, _fraction
from maskforge.sparsity.update import prune_and_grow


def _positive(instance, attribute, value):
    if value < 1:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be >= 1 step, got {value!r}")


@attrs.define(kw_only=True)
class DynamicSparse(MaskedStrategy):
    """Prune-and-regrow exploration of a sparse network at a fixed parameter count.

    Options (besides :class:`~maskforge.strategy.masked.MaskedStrategy`'s):
        explore: False turns exploration off (then this is the static baseline).
        drop_fraction: initial share p of active weights dropped per update, in [0, 1).
        decay: ``cosine`` (clamped at ``end_step``) or ``constant``.
        update_every: ΔT, in steps of this network.
        end_step: last step with updates and where the cosine reaches 0 (default: the run's
            total steps for this network).
        pruner / grower: registered names (``magnitude`` / ``gradient``, ``random``, ...).
        pooled: drop and regrow globally over all layers (per-layer counts may move).
    """

    explore: bool = True
    drop_fraction: float = attrs.field(default=0.5, validator=_fraction)
    decay: str = attrs.field(default="cosine", validator=attrs.validators.in_(("cosine", "constant")))
    update_every: int = attrs.field(default=500, validator=_positive)
    end_step: int | None = None
    pruner: str = "magnitude"
    grower: str = "gradient"
    pooled: bool = False
    _cadence: Cadence | None = attrs.field(default=None, init=False, repr=False)
    _schedule: object = attrs.field(default=None, init=False, repr=False)
    _pruner: object = attrs.field(default=None, init=False, repr=False)
    _grower: object = attrs.field(default=None, init=False, repr=False)
    _dense_grads: dict | None = attrs.field(default=None, init=False, repr=False)

    def bind(self, optimizer) -> None:
        super().bind(optimizer)
        end = self.end_step if self.end_step is not None else (self.total_steps or None)
        self._cadence = Cadence(every=self.update_every, stop=None if end is None else end - 1)
        if self.decay == "cosine" and end:
            self._schedule = CosineDecay(initial=self.drop_fraction, t_end=end)
        else:
            self._schedule = Constant(self.drop_fraction)
        self._pruner = self.plugins.create("pruner", self.pruner)
        self._grower = self.plugins.create("grower", self.grower)

    def drop_fraction_at(self, step: int) -> float:
        """The drop fraction an update at ``step`` uses."""
        return self._schedule(step)

    def before_step(self, step: int) -> None:
        # The update comes after this step's optimizer step (Algorithm 1, lines 5-8), but the
        # engine masks the gradients in place before that step: keep the dense ones for growth.
        if self.explore and self._cadence.due(step):
            self._dense_grads = {n: p.grad.detach().clone() for n, p in self.engine.params.items() if p.grad is not None}

    def after_step(self, step: int) -> MaskUpdateStats | None:
        dense = self._dense_grads
        if not self.explore or not self._cadence.due(step) or dense is None:
            return None
        self._dense_grads = None
        params = self.engine.params
        masked = {n: params[n].grad for n in dense}
        for n, g in dense.items():  # growers read the gradient the step used, before masking
            params[n].grad = g
        try:
            return prune_and_grow(
                self.engine, self._pruner, self._grower, self.drop_fraction_at(step),
                pooled=self.pooled, step=step, generator=self.generator,
            )
        finally:
            for n, g in masked.items():
                params[n].grad = g


def stu_gan(**options) -> DynamicSparse:
    """STU-GAN: ERK init, magnitude drop p=0.5 cosine-decayed, gradient regrowth at zero, ΔT=500."""
    return DynamicSparse(**options)


def set_strategy(**options) -> DynamicSparse:
    """SET: magnitude drop of a constant 30%, random regrowth."""
    defaults = {"grower": "random", "decay": "constant", "drop_fraction": 0.3}
    return DynamicSparse(**{**defaults, **options})


@hookimpl
def maskforge_register(registry):
    registry.register("strategy", "stu_gan", stu_gan)
    registry.register("strategy", "set", set_strategy)
