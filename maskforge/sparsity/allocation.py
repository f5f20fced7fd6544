"""Allocators: how a target density is spread over layers.

Every allocator is a pure function with one signature::

    allocator(shapes: Mapping[str, Sequence[int]], density: float, **options) -> Allocation

``shapes`` maps each sparsified parameter to its shape (PyTorch layout: ``(out, in, *kernel)``),
``density`` is the fraction of entries kept over all of them. The result holds a density and an
exact integer count per parameter; the counts add up to ``round(density * total)`` (up to one
entry per layer where per-layer overrides or dense layers force it).

* :func:`uniform` — the same density in every layer.
* :func:`erdos_renyi` (ER) — density proportional to ``(n_in + n_out) / (n_in * n_out)``.
* :func:`erdos_renyi_kernel` (ERK) — density proportional to ``sum(shape) / prod(shape)``, so
  larger layers get lower density (Evci et al., RigL; STU-GAN section 4.1).
* :func:`global_pool` — only the total is fixed (``pooled=True``): the selection is global, one
  threshold over all layers' scores.

ER and ERK implement RigL's algorithm including its *dense-layer capacity loop*: a layer whose
scaled density would exceed 1 becomes dense and the scale is re-solved for the rest, so no
density exceeds 1 and the total still meets the target. ``power_scale`` raises the raw ER/ERK
proportions to a power (0 gives uniform). ``overrides`` fixes some layers' densities; unlike
RigL (which leaves them out of the budget, so the total misses the target) the fixed layers'
entries are charged to the budget and the rest is re-solved.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence

import attrs


@attrs.frozen
class Allocation:
    """Per-parameter target densities and exact active counts.

    Attributes:
        densities: target fraction kept per parameter, each in [0, 1].
        counts: exact number of active entries per parameter (what masks are built with).
        pooled: when True only the total ``sum(counts)`` is binding: selection is global over
            all parameters and per-layer counts may move (global magnitude pruning, say).
    """

    densities: dict[str, float]
    counts: dict[str, int]
    pooled: bool = False

    @property
    def total(self) -> int:
        """Active entries over all parameters."""
        return sum(self.counts.values())


Allocator = Callable[..., Allocation]


def check_density(density: float, what: str = "density") -> float:
    """Validate a density in (0, 1]; returns it as float."""
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not (0.0 < float(density) <= 1.0):
        raise ValueError(
            f"{what} must be in (0, 1] (the fraction of weights kept), got {density!r}; "
            "e.g. 0.1 keeps 10% of the weights"
        )
    return float(density)


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _check_overrides(shapes: Mapping[str, Sequence[int]], overrides: Mapping[str, float] | None) -> dict[str, float]:
    out = {}
    for name, value in (overrides or {}).items():
        if name not in shapes:
            close = difflib.get_close_matches(name, list(shapes), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; sparsified parameters are {list(shapes)}"
            raise ValueError(f"density override for unknown parameter {name!r}{hint}")
        if isinstance(value, bool) or not (0.0 <= float(value) <= 1.0):
            raise ValueError(f"density override for {name!r} must be in [0, 1], got {value!r}")
        out[name] = float(value)
    return out


def _counts(shapes: Mapping[str, Sequence[int]], densities: Mapping[str, float], fixed: Mapping[str, float], target: int) -> dict[str, int]:
    """Integer counts: fixed layers rounded on their own, the rest by largest remainder to hit ``target``."""
    counts = {n: round(fixed[n] * _numel(s)) for n, s in shapes.items() if n in fixed}
    free = [n for n in shapes if n not in fixed]
    exact = {n: densities[n] * _numel(shapes[n]) for n in free}
    floors = {n: min(_numel(shapes[n]), math.floor(exact[n] + 1e-9)) for n in free}
    counts.update(floors)
    remaining = target - sum(counts.values())
    order = sorted(free, key=lambda n: (-(exact[n] - floors[n]), free.index(n)))
    for n in order:
        if remaining <= 0:
            break
        if counts[n] < _numel(shapes[n]):
            counts[n] += 1
            remaining -= 1
    return {n: counts[n] for n in shapes}


def _finish(shapes, densities, fixed, pooled=False) -> Allocation:
    target = round(sum(densities[n] * _numel(s) for n, s in shapes.items()))
    counts = _counts(shapes, densities, fixed, target)
    return Allocation(densities={n: float(densities[n]) for n in shapes}, counts=counts, pooled=pooled)


def uniform(shapes: Mapping[str, Sequence[int]], density: float, *, overrides: Mapping[str, float] | None = None) -> Allocation:
    """The same density in every layer (overridden layers excepted)."""
    density = check_density(density)
    fixed = _check_overrides(shapes, overrides)
    return _finish(shapes, {n: fixed.get(n, density) for n in shapes}, fixed)


def global_pool(shapes: Mapping[str, Sequence[int]], density: float) -> Allocation:
    """Only the total is fixed: selection happens globally over all layers (``pooled=True``).

    The per-layer densities and counts reported are uniform placeholders; the layer counts that
    actually result depend on the scores the selection ranks.
    """
    density = check_density(density)
    return _finish(shapes, {n: density for n in shapes}, {}, pooled=True)


def _scaled(
    shapes: Mapping[str, Sequence[int]],
    density: float,
    raw: Mapping[str, float],
    overrides: Mapping[str, float] | None,
) -> Allocation:
    density = check_density(density)
    fixed = _check_overrides(shapes, overrides)
    numel = {n: _numel(s) for n, s in shapes.items()}
    budget = density * sum(numel.values()) - sum(fixed[n] * numel[n] for n in fixed)
    dense: set[str] = set()
    free = [n for n in shapes if n not in fixed]
    empty = {n for n in free if numel[n] == 0}  # nothing to keep: the target density, no share of the budget
    while True:
        scalable = [n for n in free if n not in dense and n not in empty]
        rhs = budget - sum(numel[n] for n in dense)
        divisor = sum(raw[n] * numel[n] for n in scalable)
        if not scalable and dense and rhs > len(shapes):  # every free layer dense and still short of the target
            raise ValueError(
                f"density {density} cannot be met: with the overrides, even keeping every other layer dense "
                f"keeps {round(budget - rhs + sum(fixed[n] * numel[n] for n in fixed))} of the "
                f"{round(density * sum(numel.values()))} entries it asks for; raise the overrides or lower the density"
            )
        if not scalable or divisor <= 0:
            break
        eps = rhs / divisor
        if eps < 0:
            raise ValueError(
                f"density {density} cannot be met: the overridden/dense layers alone keep more "
                "entries than the whole budget; lower the overrides or raise the density"
            )
        peak = max(raw[n] for n in scalable)
        if eps * peak <= 1.0:
            break
        dense.update(n for n in scalable if raw[n] == peak)
    densities = {}
    for n in shapes:
        if n in fixed:
            densities[n] = fixed[n]
        elif n in empty:
            densities[n] = density
        elif n in dense or not scalable:
            densities[n] = 1.0
        else:
            densities[n] = min(1.0, eps * raw[n])
    return _finish(shapes, densities, fixed)


def _channels(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) == 1:
        return int(shape[0]), 1
    return int(shape[1]), int(shape[0])  # (n_in, n_out) in PyTorch's (out, in, ...) layout


def erdos_renyi(
    shapes: Mapping[str, Sequence[int]],
    density: float,
    *,
    power_scale: float = 1.0,
    overrides: Mapping[str, float] | None = None,
) -> Allocation:
    """ER: density ∝ ``((n_in + n_out) / (n_in * n_out)) ** power_scale`` (kernel size ignored)."""
    raw = {}
    for n, s in shapes.items():
        n_in, n_out = _channels(s)
        raw[n] = ((n_in + n_out) / (n_in * n_out)) ** power_scale if n_in * n_out else 0.0
    return _scaled(shapes, density, raw, overrides)


def erdos_renyi_kernel(
    shapes: Mapping[str, Sequence[int]],
    density: float,
    *,
    power_scale: float = 1.0,
    overrides: Mapping[str, float] | None = None,
) -> Allocation:
    """ERK: density ∝ ``(sum(shape) / prod(shape)) ** power_scale`` (STU-GAN section 4.1)."""
    raw = {n: (sum(int(d) for d in s) / _numel(s)) ** power_scale if _numel(s) else 0.0 for n, s in shapes.items()}
    return _scaled(shapes, density, raw, overrides)
