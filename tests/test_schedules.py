"""Schedules: cosine decay clamps at its end (never periodic), cubic and linear interpolate."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maskforge.sparsity.schedules import Cadence, Constant, CosineDecay, CubicGradual, Linear


@given(st.floats(0.01, 1.0), st.integers(1, 10_000), st.integers(0, 100_000))
def test_cosine_decay_is_monotone_and_clamped_past_its_end(initial, t_end, step):
    schedule = CosineDecay(initial=initial, t_end=t_end)
    value = schedule(step)
    assert 0.0 <= value <= initial + 1e-12
    assert schedule(step + 1) <= value + 1e-12
    if step >= t_end:
        assert value == pytest.approx(0.0, abs=1e-12)


def test_cosine_decay_matches_the_formula():
    s = CosineDecay(initial=0.5, t_end=100, final=0.1)
    assert s(0) == pytest.approx(0.5) and s(100) == pytest.approx(0.1) and s(10**6) == pytest.approx(0.1)
    assert s(50) == pytest.approx(0.1 + 0.4 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_cubic_gradual_follows_zhu_and_gupta():
    s = CubicGradual(initial=1.0, final=0.1, t_start=10, t_end=110)
    assert s(0) == 1.0 and s(10) == 1.0 and s(110) == pytest.approx(0.1) and s(500) == pytest.approx(0.1)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5**3)


def test_linear_and_constant():
    assert Linear(0.0, 1.0, 0, 10)(5) == 0.5 and Linear(0.0, 1.0, 0, 10)(20) == 1.0
    assert Constant(0.3)(12345) == 0.3


def test_cadence_fires_every_interval_inside_its_window():
    c = Cadence(every=5, start=0, stop=20)
    assert [s for s in range(30) if c.due(s)] == [5, 10, 15, 20]
    with pytest.raises(ValueError, match=">= 1"):
        Cadence(every=0)
