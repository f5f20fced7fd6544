"""Schedules: a value over training steps, and when mask updates happen.

Value schedules (drop fraction, density, ...), each ``schedule(step) -> float``:

* :class:`Constant` — the same value at every step.
* :class:`CosineDecay` — ``final + (initial - final) * (1 + cos(pi * t / t_end)) / 2``, clamped at
  ``final`` for ``t >= t_end`` (never periodic past its end, unlike a stepped
  ``CosineAnnealingLR`` that overruns ``T_max``). RigL / STU-GAN's drop-fraction decay.
* :class:`CubicGradual` — Zhu & Gupta's gradual schedule
  ``final + (initial - final) * (1 - (t - t_start) / (t_end - t_start)) ** 3``.
* :class:`Linear` — linear from ``initial`` at ``t_start`` to ``final`` at ``t_end``, clamped.

:class:`Cadence` answers *when*: every ``every`` steps in ``[start, stop]``.
"""

from __future__ import annotations

import math

import attrs


def _progress(step: int, t_start: int, t_end: int) -> float:
    if t_end <= t_start:
        return 1.0 if step >= t_end else 0.0
    return min(1.0, max(0.0, (step - t_start) / (t_end - t_start)))


def _check_end(instance, attribute, value):
    if value < 0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be >= 0, got {value}")


@attrs.frozen
class Constant:
    """The same value at every step."""

    value: float

    def __call__(self, step: int) -> float:
        return float(self.value)


@attrs.frozen
class CosineDecay:
    """Cosine decay from ``initial`` at step 0 to ``final`` at ``t_end``, then held at ``final``."""

    initial: float
    t_end: int = attrs.field(validator=_check_end)
    final: float = 0.0

    def __call__(self, step: int) -> float:
        progress = _progress(step, 0, self.t_end)
        return self.final + (self.initial - self.final) * 0.5 * (1.0 + math.cos(math.pi * progress))


@attrs.frozen
class CubicGradual:
    """Zhu & Gupta (2017): cubic interpolation from ``initial`` to ``final`` over [t_start, t_end]."""

    initial: float
    final: float
    t_start: int = attrs.field(default=0, validator=_check_end)
    t_end: int = attrs.field(default=0, validator=_check_end)

    def __call__(self, step: int) -> float:
        progress = _progress(step, self.t_start, self.t_end)
        return self.final + (self.initial - self.final) * (1.0 - progress) ** 3


@attrs.frozen
class Linear:
    """Linear interpolation from ``initial`` to ``final`` over [t_start, t_end], clamped."""

    initial: float
    final: float
    t_start: int = attrs.field(default=0, validator=_check_end)
    t_end: int = attrs.field(default=0, validator=_check_end)

    def __call__(self, step: int) -> float:
        return self.initial + (self.final - self.initial) * _progress(step, self.t_start, self.t_end)


@attrs.frozen
class Cadence:
    """Mask updates happen at steps ``start + every, start + 2*every, ...`` up to ``stop``."""

    every: int
    start: int = 0
    stop: int | None = None

    def __attrs_post_init__(self):
        if self.every < 1:
            raise ValueError(f"update interval must be >= 1 step, got {self.every}")

    def due(self, step: int) -> bool:
        """True when a mask update should happen after training step ``step``."""
        if step <= self.start or (self.stop is not None and step > self.stop):
            return False
        return (step - self.start) % self.every == 0
