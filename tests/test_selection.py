"""Exact top-k / bottom-k: counts exact, ties by index, sampled path == sort path."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge.sparsity.selection import select_topk, select_topk_global
from maskforge.testing import tied_tensor
from maskforge.testing.strategies import seeds


def reference(values: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """Plain Python ranking: by value, then by index; NaN never chosen."""
    flat = values.reshape(-1).tolist()
    order = sorted((i for i, v in enumerate(flat) if not math.isnan(v)), key=lambda i: (-flat[i] if largest else flat[i], i))
    out = torch.zeros(len(flat), dtype=torch.bool)
    out[order[:k]] = True
    return out.reshape(values.shape)


@given(st.integers(1, 600), st.integers(1, 5), seeds, st.booleans(), st.data())
def test_both_paths_equal_the_reference_with_heavy_ties(n, levels, seed, largest, data):
    values = tied_tensor((n,), levels, seed)
    k = data.draw(st.integers(0, n))
    expected = reference(values, k, largest)
    for method in ("sort", "sample"):
        got = select_topk(values, k, largest=largest, method=method)
        assert torch.equal(got, expected), method
        assert int(got.sum()) == k


@given(st.integers(1, 300), seeds, st.data())
def test_nan_scores_are_never_selected(n, seed, data):
    values = tied_tensor((n,), 3, seed)
    values[torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.3] = float("nan")
    valid = int((~torch.isnan(values)).sum())
    k = data.draw(st.integers(0, valid))
    for method in ("sort", "sample"):
        got = select_topk(values, k, method=method)
        assert torch.equal(got, reference(values, k, True))
        assert not bool(got[torch.isnan(values)].any())


def test_asking_for_more_than_the_non_nan_scores_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        select_topk(torch.tensor([1.0, float("nan")]), 2)


@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=4), st.integers(1, 4), seeds, st.booleans(), st.data())
def test_global_selection_ranks_across_tensors_with_earlier_tensors_winning_ties(shapes, levels, seed, largest, data):
    scores = {f"t{i}": tied_tensor(s, levels, seed + i) for i, s in enumerate(shapes)}
    total = sum(t.numel() for t in scores.values())
    k = data.draw(st.integers(0, total))
    flat = torch.cat([t.reshape(-1) for t in scores.values()])
    expected = reference(flat, k, largest)
    for method in ("sort", "sample"):
        got = select_topk_global(scores, k, largest=largest, method=method)
        assert torch.equal(torch.cat([g.reshape(-1) for g in got.values()]), expected)


@given(st.integers(1, 200), seeds, st.booleans(), st.data())
def test_selection_within_a_region_only_picks_region_entries(n, seed, largest, data):
    values = tied_tensor((n,), 2, seed)
    region = torch.rand(n, generator=torch.Generator().manual_seed(seed + 1)) < 0.5
    k = data.draw(st.integers(0, int(region.sum())))
    got = select_topk(values, k, largest=largest, within=region)
    assert int(got.sum()) == k and not bool((got & ~region).any())
    masked = torch.where(region, values, torch.tensor(float("nan")))
    assert torch.equal(got, reference(masked, k, largest))


def test_large_input_takes_the_sampled_path_and_stays_exact():
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 1000, (1 << 21,), generator=gen).float()  # 2M entries, ~2000 ties each
    k = 777_777
    fast = select_topk(values, k)  # auto -> sampled path
    slow = select_topk(values, k, method="sort")
    assert int(fast.sum()) == k
    assert torch.equal(fast, slow)


def test_k_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="k must be in"):
        select_topk(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="unknown selection method"):
        select_topk(torch.zeros(3), 1, method="quick")
