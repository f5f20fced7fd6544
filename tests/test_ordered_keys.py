"""Packed (score, key) integers, and the int32 order bits with ties resolved by key, select
exactly what a stable sort by score, then key, selects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge.sparsity import index_selection as ix
from maskforge.sparsity.ordered_keys import (
    best_by_order_bits,
    kth_smallest,
    order_bits,
    ordered_keys,
    smallest_positions,
)
from maskforge.testing.strategies import seeds
from tests.test_selection_fast_path import scores_with_ties

# every test here runs with the compiled kernels and again on the pure torch + numpy path
pytestmark = pytest.mark.usefixtures("both_paths")


def sort_reference(values: torch.Tensor, keys: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """Positions of the k best by value (``==`` ties, so -0.0 ties +0.0), then by lower key."""
    by_key = torch.argsort(keys)
    v = values[by_key].double()
    order = torch.sort(-v if largest else v, stable=True).indices
    return torch.sort(by_key[order[:k]]).values


def with_signed_zeros(values: torch.Tensor, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + 1)
    zeros = torch.rand(values.numel(), generator=gen) < 0.2
    signs = torch.rand(values.numel(), generator=gen) < 0.5
    out = values.clone()
    out[zeros & signs] = -0.0
    out[zeros & ~signs] = 0.0
    return out


@given(n=st.integers(1, 600), levels=st.integers(1, 5), seed=seeds, largest=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]), data=st.data())
def test_packed_keys_select_like_a_stable_sort(n, levels, seed, largest, dtype, data):
    values = with_signed_zeros(scores_with_ties(n, levels, 0.0, seed, dtype=dtype), seed)
    keys = torch.randperm(3 * n, generator=torch.Generator().manual_seed(seed))[:n]
    k = data.draw(st.integers(0, n), label="k")
    packed = ordered_keys(values, keys, largest=largest)
    got = smallest_positions(packed, k)
    assert torch.equal(got, sort_reference(values, keys, k, largest))
    assert torch.all(got[1:] > got[:-1])  # increasing positions


@given(n=st.integers(1, 400), levels=st.integers(1, 5), seed=seeds, largest=st.booleans(), data=st.data())
def test_the_non_negative_shortcut_equals_the_signed_mapping(n, levels, seed, largest, data):
    magnitudes = scores_with_ties(n, levels, 0.0, seed).abs()
    k = data.draw(st.integers(0, n), label="k")
    fast = ordered_keys(magnitudes, None, largest=largest, non_negative=True, keys_below=n)
    general = ordered_keys(magnitudes, None, largest=largest)
    assert torch.equal(smallest_positions(fast, k), smallest_positions(general, k))


@given(n=st.integers(2, 600), levels=st.integers(1, 5), seed=seeds, largest=st.booleans(), with_keys=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]), data=st.data())
def test_order_bits_select_like_a_stable_sort(n, levels, seed, largest, with_keys, dtype, data):
    values = with_signed_zeros(scores_with_ties(n, levels, 0.0, seed, dtype=dtype), seed)
    keys = torch.randperm(3 * n, generator=torch.Generator().manual_seed(seed))[:n] if with_keys else None
    k = data.draw(st.integers(1, n - 1), label="k")
    got = best_by_order_bits(values, keys, k, largest=largest)
    assert got is not None  # small inputs are never refused
    assert torch.equal(got, sort_reference(values, keys if with_keys else torch.arange(n), k, largest))


@given(n=st.integers(1, 400), levels=st.integers(1, 5), seed=seeds)
def test_order_bits_are_monotone_and_equal_exactly_for_equal_floats(n, levels, seed):
    values = with_signed_zeros(scores_with_ties(n, levels, 0.0, seed), seed)
    bits = order_bits(values).long()
    v = values.double()
    assert torch.equal(bits[:, None] < bits[None, :], v[:, None] < v[None, :])
    assert torch.equal(bits[:, None] == bits[None, :], v[:, None] == v[None, :])
    magnitudes = values.abs()
    assert torch.equal(order_bits(magnitudes, non_negative=True), order_bits(magnitudes))


def test_a_frequent_value_sends_large_inputs_to_the_packed_keys_with_the_same_answer():
    """introselect slows down inside long runs of equal values: a value seen often in the sample
    refuses the int32 path, and the caller's packed keys give the same positions."""
    gen = torch.Generator().manual_seed(3)
    values = torch.rand(1 << 15, generator=gen)
    values[torch.rand(values.numel(), generator=gen) < 0.4] = 0.0
    keys = torch.randperm(values.numel(), generator=gen)
    assert best_by_order_bits(values, keys, 5000, largest=False, non_negative=True) is None
    distinct = torch.rand(1 << 15, generator=gen)
    assert best_by_order_bits(distinct, keys, 5000, largest=False) is not None
    got = torch.sort(ix.best_positions(values, keys, 5000, largest=False)).values
    assert torch.equal(got, sort_reference(values, keys, 5000, False))


def test_the_order_bits_path_refuses_what_it_cannot_rank():
    values = torch.rand(8)
    assert best_by_order_bits(values.double(), None, 3, largest=True) is None
    assert best_by_order_bits(values, None, 0, largest=True) is None
    assert best_by_order_bits(values, None, 8, largest=True) is None
    assert best_by_order_bits(values.reshape(2, 4), None, 3, largest=True) is None


def test_inputs_that_cannot_be_packed_are_refused_so_callers_use_the_float_path():
    values = torch.rand(4)
    assert ordered_keys(values.double(), None, largest=True) is None
    assert ordered_keys(values, torch.tensor([0, 1, 2, 1 << 32]), largest=True) is None
    assert ordered_keys(values, torch.tensor([-1, 0, 1, 2]), largest=True) is None
    assert ordered_keys(values, torch.arange(4), largest=True, keys_below=(1 << 32) + 1) is None


@given(n=st.integers(1, 300), levels=st.integers(1, 4), seed=seeds, largest=st.booleans(), data=st.data())
def test_float64_scores_and_huge_keys_take_the_threshold_path_with_the_same_answer(n, levels, seed, largest, data):
    values = scores_with_ties(n, levels, 0.0, seed, dtype=torch.float64)
    keys = torch.randperm(n, generator=torch.Generator().manual_seed(seed)) + (1 << 33)
    k = data.draw(st.integers(0, n), label="k")
    got = torch.sort(ix.best_positions(values, keys, k, largest=largest)).values
    assert torch.equal(got, sort_reference(values, keys, k, largest))


@given(n=st.integers(1, 500), seed=seeds, data=st.data())
def test_kth_smallest_equals_kthvalue(n, seed, data):
    gen = torch.Generator().manual_seed(seed)
    k = data.draw(st.integers(1, n), label="k")
    for values in (torch.randint(-5, 5, (n,), generator=gen), torch.randint(-3, 3, (n,), generator=gen).float(),
                   torch.randn(n, generator=gen).to(torch.bfloat16)):
        assert kth_smallest(values, k).item() == torch.kthvalue(values, k).values.item()


def test_smallest_positions_rejects_an_impossible_count():
    with pytest.raises(ValueError, match="k must be in"):
        smallest_positions(torch.arange(3), 4)


@given(n=st.integers(1, 3000), seed=seeds, largest=st.booleans(), magnitude=st.booleans(),
       excluded_share=st.sampled_from([0.0, 0.3, 0.9]), chunk=st.sampled_from([7, 64, 1 << 18]))
def test_the_cpu_pass_finds_what_the_plain_pass_finds(n, seed, largest, magnitude, excluded_share, chunk):
    gen = torch.Generator().manual_seed(seed)
    flat = scores_with_ties(n, 4, 0.1, seed)
    excluded = torch.rand(n, generator=gen) < excluded_share if excluded_share else None
    bound = torch.tensor(0.5)
    saved = ix.CHUNK
    ix.CHUNK = chunk
    try:
        found, scores = ix._reaching_cpu(flat, excluded, bound, largest, magnitude)
    finally:
        ix.CHUNK = saved
    expected = ix._reaching(flat, excluded, bound, largest, magnitude)
    assert torch.equal(found, expected)
    source = flat.abs() if magnitude else flat
    assert torch.equal(scores, source[expected])
    assert np.all(np.diff(found.numpy()) > 0)
