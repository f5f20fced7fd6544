"""Conformance checks a plugin author runs against a new Score, Pruner, Grower or Allocator.

Each ``check_*`` runs the component on many random inputs (hypothesis, with scores full of
ties) and raises ``AssertionError`` naming the contract it broke. Put one line in your tests::

    from maskforge.testing import check_grower

    def test_my_grower_conforms():
        check_grower(MyGrower())

The contracts are those of :mod:`maskforge.sparsity.protocols` — the same ones the engine enforces at
run time, so a component that passes here will not trip an ``InvariantViolation`` later.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from hypothesis import HealthCheck, errors, given, settings
from hypothesis import strategies as st

from maskforge.sparsity.allocation import Allocation
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import Grower, Pruner, Score
from maskforge.testing.strategies import make_context, seeds, shape_maps


def _settings(max_examples: int):
    return settings(max_examples=max_examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def _run(check) -> None:
    """Run a hypothesis-driven check; a flaky failure (the component itself is random) is
    reported as the AssertionError it raised, not as hypothesis's internal error."""
    try:
        check()
    except errors.Flaky as err:
        found = [e for e in getattr(err, "exceptions", []) if isinstance(e, AssertionError)]
        if found:
            raise AssertionError(str(found[0])) from err
        raise


def _assert_mask_like(result: object, reference: Mask, who: str) -> Mask:
    assert isinstance(result, Mask), f"{who} must return a maskforge.Mask, got {type(result).__name__}"
    assert result.names == reference.names, f"{who} returned masks for {result.names}, expected {reference.names}"
    for n in reference:
        assert result[n].shape == reference[n].shape, f"{who} returned shape {tuple(result[n].shape)} for {n!r}, expected {tuple(reference[n].shape)}"
    return result


def _counts(draw, available: Mapping[str, int], pooled: bool):
    if pooled:
        return draw(st.integers(0, sum(available.values())))
    return {n: draw(st.integers(0, a)) for n, a in available.items()}


def _assert_count(result: Mask, count, who: str, what: str) -> None:
    got = result.nnz()
    if isinstance(count, int):
        assert sum(got.values()) == count, f"{who} {what} {sum(got.values())} entries in total, {count} were requested"
    else:
        for n, c in count.items():
            assert got[n] == c, f"{who} {what} {got[n]} entries of {n!r}, exactly {c} were requested"


def check_score(score: Score, *, max_examples: int = 30) -> None:
    """A Score returns one finite float tensor per parameter, shaped like it, and changes nothing."""

    @_settings(max_examples)
    @given(shapes=shape_maps(), seed=seeds)
    def run(shapes, seed):
        ctx = make_context(shapes, seed=seed)
        before = {n: p.detach().clone() for n, p in ctx.params.items()}
        mask_before = ctx.mask.clone()
        out = score(ctx)
        assert set(out) == set(ctx.params), f"score returned {sorted(out)}, expected {sorted(ctx.params)}"
        for n, p in ctx.params.items():
            assert out[n].shape == p.shape, f"score for {n!r} has shape {tuple(out[n].shape)}, expected {tuple(p.shape)}"
            assert out[n].is_floating_point(), f"score for {n!r} must be a float tensor, got {out[n].dtype}"
            assert bool(torch.isfinite(out[n]).all()), f"score for {n!r} has NaN or inf entries"
            assert torch.equal(p.detach(), before[n]), f"score modified parameter {n!r}"
        assert ctx.mask == mask_before, "score modified the mask"

    _run(run)


def check_pruner(pruner: Pruner, *, max_examples: int = 40) -> None:
    """A Pruner drops exactly ``count`` entries, all active, deterministically — per layer and global."""

    @_settings(max_examples)
    @given(shapes=shape_maps(), seed=seeds, density=st.floats(0.0, 1.0), pooled=st.booleans(), data=st.data())
    def run(shapes, seed, density, pooled, data):
        ctx = make_context(shapes, seed=seed, density=density)
        count = _counts(data.draw, ctx.mask.nnz(), pooled)
        drop = _assert_mask_like(pruner.drop(ctx, count), ctx.mask, "pruner")
        assert drop.issubset(ctx.mask), "pruner dropped entries that were not active (drop must be a subset of the mask)"
        _assert_count(drop, count, "pruner", "dropped")
        again = pruner.drop(make_context(shapes, seed=seed, density=density), count)
        assert again == drop, "pruner is not deterministic for the same inputs and generator seed"

    _run(run)


def check_grower(grower: Grower, *, max_examples: int = 40) -> None:
    """A Grower grows exactly ``count`` entries, none active in ``kept``, deterministically."""

    @_settings(max_examples)
    @given(shapes=shape_maps(), seed=seeds, density=st.floats(0.0, 1.0), pooled=st.booleans(), data=st.data())
    def run(shapes, seed, density, pooled, data):
        ctx = make_context(shapes, seed=seed, density=density)
        kept = ctx.mask
        inactive = {n: m.numel() - c for (n, m), c in zip(kept.items(), kept.nnz().values())}
        count = _counts(data.draw, inactive, pooled)
        grow = _assert_mask_like(grower.grow(ctx, kept, count), kept, "grower")
        assert grow.isdisjoint(kept), "grower grew entries that are already active (grow must be disjoint from kept)"
        _assert_count(grow, count, "grower", "grew")
        ctx2 = make_context(shapes, seed=seed, density=density)
        assert grower.grow(ctx2, ctx2.mask, count) == grow, "grower is not deterministic for the same inputs and generator seed"

    _run(run)


def check_allocator(allocator: Callable[..., Allocation], *, max_examples: int = 60, pooled: bool | None = None) -> None:
    """An Allocator returns densities in [0, 1] and counts totalling ``round(density * total)``
    within one entry per layer (DESIGN invariant 5)."""

    @_settings(max_examples)
    @given(shapes=shape_maps(max_layers=6, max_dim=40), density=st.floats(0.01, 1.0))
    def run(shapes, density):
        result = allocator(shapes, density)
        assert isinstance(result, Allocation), f"allocator must return an Allocation, got {type(result).__name__}"
        assert set(result.densities) == set(shapes) == set(result.counts), "allocator must cover every parameter it was given"
        if pooled is not None:
            assert result.pooled == pooled, f"allocator pooled={result.pooled}, expected {pooled}"
        for n, d in result.densities.items():
            assert 0.0 <= d <= 1.0, f"density of {n!r} is {d}, outside [0, 1]"
            numel = math.prod(shapes[n])
            assert 0 <= result.counts[n] <= numel, f"count of {n!r} is {result.counts[n]}, outside [0, {numel}]"
        total = sum(math.prod(s) for s in shapes.values())
        target = round(density * total)
        assert abs(result.total - target) <= len(shapes), (
            f"allocator keeps {result.total} entries, target round({density} * {total}) = {target} "
            f"(allowed: within one per layer)"
        )

    _run(run)
