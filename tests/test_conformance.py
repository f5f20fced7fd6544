"""The conformance checks accept the built-ins and catch broken components."""

import pytest
import torch

from maskforge import Mask
from maskforge.sparsity.growers import gradient_grower, momentum_grower, random_grower
from maskforge.sparsity.pruners import magnitude_pruner, random_pruner
from maskforge.sparsity.scores import GradientMagnitudeScore, MagnitudeScore, MomentumScore, RandomScore
from maskforge.sparsity.selection import select_count
from maskforge.testing import check_grower, check_pruner, check_score


@pytest.mark.parametrize("score", [MagnitudeScore(), GradientMagnitudeScore(), MomentumScore(), RandomScore()])
def test_builtin_scores_conform(score):
    check_score(score, max_examples=15)


@pytest.mark.parametrize("make", [magnitude_pruner, random_pruner])
def test_builtin_pruners_conform(make):
    check_pruner(make(), max_examples=25)


@pytest.mark.parametrize("make", [gradient_grower, random_grower, momentum_grower])
def test_builtin_growers_conform(make):
    check_grower(make(), max_examples=25)


class GrowsEverywhere:
    """Ignores `kept`: may re-select active entries (the density-drift bug)."""

    def grow(self, ctx, kept, count):
        scores = {n: p.grad.abs() for n, p in ctx.params.items()}
        return Mask(select_count(scores, count))


class SortsWithoutTies:
    """Uses torch.topk without restricting to active entries: drops inactive ones."""

    def drop(self, ctx, count):
        scores = {n: -p.detach().abs() for n, p in ctx.params.items()}
        return Mask(select_count(scores, count))


class Unseeded:
    """Ignores ctx.generator: not reproducible across ranks or resumes."""

    def grow(self, ctx, kept, count):
        scores = {n: torch.rand(p.shape) for n, p in ctx.params.items()}
        return Mask(select_count(scores, count, within=~kept))


def test_check_grower_catches_growth_onto_active_entries():
    with pytest.raises(AssertionError, match="already active"):
        check_grower(GrowsEverywhere(), max_examples=50)


def test_check_pruner_catches_drops_of_inactive_entries():
    with pytest.raises(AssertionError, match="not active"):
        check_pruner(SortsWithoutTies(), max_examples=50)


def test_check_grower_catches_nondeterminism():
    with pytest.raises(AssertionError, match="not deterministic"):
        check_grower(Unseeded(), max_examples=50)


def test_check_score_catches_a_score_that_modifies_weights():
    def destructive(ctx):
        for p in ctx.params.values():
            p.data.mul_(2.0)
        return {n: p.detach().abs() for n, p in ctx.params.items()}

    with pytest.raises(AssertionError, match="modified parameter"):
        check_score(destructive, max_examples=10)
