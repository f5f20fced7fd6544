"""Exact top-k / bottom-k: counts exact, ties by index, NaN never chosen — compared with a stable
sort (the reference), on scores with many ties, signed zeros, infinities and NaN."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge.sparsity.selection import (
    select_count,
    select_topk,
    select_topk_global,
    select_topk_per_tensor,
)
from maskforge.testing import tied_tensor
from maskforge.testing.strategies import seeds

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference(values: torch.Tensor, k: int, largest: bool, within: torch.Tensor | None = None) -> torch.Tensor:
    """One stable sort of the eligible entries: by value, then by index; NaN never chosen."""
    flat = values.detach().reshape(-1).double().cpu()
    eligible = ~torch.isnan(flat)
    if within is not None:
        eligible &= within.reshape(-1).cpu()
    index = torch.nonzero(eligible).squeeze(1)
    order = torch.sort(flat[index], descending=largest, stable=True).indices
    out = torch.zeros(flat.numel(), dtype=torch.bool)
    out[index[order[:k]]] = True
    return out.reshape(values.shape)


def python_reference(values: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    """The same ranking written out in plain Python (checks the sort-based reference itself)."""
    flat = values.reshape(-1).tolist()
    order = sorted((i for i, v in enumerate(flat) if not math.isnan(v)), key=lambda i: (-flat[i] if largest else flat[i], i))
    out = torch.zeros(len(flat), dtype=torch.bool)
    out[order[:k]] = True
    return out.reshape(values.shape)


def awkward(n: int, levels: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Scores with ``levels`` distinct values, plus signed zeros, ±inf and NaN sprinkled in."""
    gen = torch.Generator().manual_seed(seed)
    values = tied_tensor((n,), levels, seed).to(dtype)
    special = torch.rand(n, generator=gen)
    values[special < 0.05] = float("nan")
    values[(special >= 0.05) & (special < 0.08)] = float("inf")
    values[(special >= 0.08) & (special < 0.11)] = -float("inf")
    values[(special >= 0.11) & (special < 0.2)] = -0.0
    return values


@pytest.mark.parametrize("device", DEVICES)
@given(st.integers(1, 700), st.integers(1, 5), seeds, st.booleans(), st.booleans(),
       st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64]), st.data())
def test_selection_equals_a_stable_sort_on_scores_with_many_ties(device, n, levels, seed, largest, restricted, dtype, data):
    values = awkward(n, levels, seed, dtype)
    within = (torch.rand(n, generator=torch.Generator().manual_seed(seed + 1)) < 0.6) if restricted else None
    eligible = int((~torch.isnan(values) & (within if within is not None else True)).sum())
    k = data.draw(st.integers(0, eligible))
    got = select_topk(values.to(device), k, largest=largest, within=None if within is None else within.to(device))
    assert got.device.type == device and got.dtype == torch.bool
    assert torch.equal(got.cpu(), reference(values, k, largest, within))
    assert int(got.sum()) == k


@given(st.integers(1, 300), st.integers(1, 4), seeds, st.booleans(), st.data())
def test_the_sort_reference_agrees_with_plain_python(n, levels, seed, largest, data):
    values = tied_tensor((n,), levels, seed)
    k = data.draw(st.integers(0, n))
    assert torch.equal(reference(values, k, largest), python_reference(values, k, largest))


@pytest.mark.parametrize("device", DEVICES)
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=1, max_size=4), st.integers(1, 4), seeds,
       st.booleans(), st.data())
def test_global_selection_ranks_across_tensors_with_earlier_tensors_winning_ties(device, shapes, levels, seed, largest, data):
    scores = {f"t{i}": tied_tensor(s, levels, seed + i) for i, s in enumerate(shapes)}
    total = sum(t.numel() for t in scores.values())
    k = data.draw(st.integers(0, total))
    flat = torch.cat([t.reshape(-1) for t in scores.values()])
    got = select_topk_global({n: t.to(device) for n, t in scores.items()}, k, largest=largest)
    assert {n: g.shape for n, g in got.items()} == {n: t.shape for n, t in scores.items()}
    assert torch.equal(torch.cat([g.reshape(-1).cpu() for g in got.values()]), reference(flat, k, largest))


@given(st.lists(st.integers(1, 60), min_size=1, max_size=4), st.integers(1, 3), seeds, st.booleans(), st.data())
def test_per_tensor_selection_is_each_tensor_on_its_own(sizes, levels, seed, largest, data):
    scores = {f"t{i}": awkward(n, levels, seed + i) for i, n in enumerate(sizes)}
    within = {n: torch.rand(t.shape, generator=torch.Generator().manual_seed(seed + 7)) < 0.7 for n, t in scores.items()}
    counts = {n: data.draw(st.integers(0, int((~torch.isnan(t) & within[n]).sum()))) for n, t in scores.items()}
    got = select_topk_per_tensor(scores, counts, largest=largest, within=within)
    for n, t in scores.items():
        assert torch.equal(got[n], reference(t, counts[n], largest, within[n])), n
    assert select_count(scores, counts, largest=largest, within=within).keys() == scores.keys()


def test_a_large_input_with_heavy_ties_is_exact():
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(0, 1000, (1 << 21,), generator=gen).float()  # 2M entries, ~2000 ties each
    for k in (1, 777_777, (1 << 21) - 5):
        got = select_topk(values, k)
        assert int(got.sum()) == k
        assert torch.equal(got, reference(values, k, True))


def test_every_score_tied_takes_the_lowest_indices():
    got = select_topk(torch.zeros(10), 3)
    assert got.tolist() == [True] * 3 + [False] * 7
    got = select_topk(torch.zeros(10), 3, largest=False, within=torch.arange(10) % 2 == 1)
    assert torch.nonzero(got).squeeze(1).tolist() == [1, 3, 5]


def test_nan_never_beats_a_genuine_infinity():
    values = torch.tensor([float("nan"), -float("inf"), float("nan"), 1.0])
    assert select_topk(values, 2).tolist() == [False, True, False, True]
    assert select_topk(values, 2, largest=False).tolist() == [False, True, False, True]


def test_asking_for_more_than_the_eligible_scores_is_an_error_naming_the_tensor():
    with pytest.raises(ValueError, match="only 1 of 2 are eligible"):
        select_topk(torch.tensor([1.0, float("nan")]), 2)
    with pytest.raises(ValueError, match="'b'"):
        select_topk_per_tensor({"a": torch.zeros(3), "b": torch.zeros(2)}, {"a": 1, "b": 1},
                               within={"a": torch.ones(3, dtype=torch.bool), "b": torch.zeros(2, dtype=torch.bool)})


def test_k_out_of_range_and_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="k must be in"):
        select_topk(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="k must be in"):
        select_topk(torch.zeros(3), -1)
    with pytest.raises(KeyError, match="no count given"):
        select_topk_per_tensor({"a": torch.zeros(3)}, {})
    with pytest.raises(ValueError, match="within has shape"):
        select_topk(torch.zeros(3), 1, within=torch.ones(4, dtype=torch.bool))


def test_selection_makes_one_host_read_per_call(monkeypatch):
    reads = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: reads.append(1) or original(self))
    for name in ("item", "__bool__", "cpu", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _n=name, **k: pytest.fail(f"selection called Tensor.{_n}"))
    scores = {f"t{i}": torch.rand(50, 40) for i in range(5)}
    select_topk_per_tensor(scores, {n: 300 for n in scores}, within={n: s > 0.2 for n, s in scores.items()})
    select_topk_global(scores, 1000)
    assert len(reads) == 2


@given(st.integers(1, 500), st.integers(1, 4), seeds, st.booleans(), st.data())
def test_the_accelerator_path_topk_gives_the_same_selection_as_kthvalue(n, levels, seed, largest, data):
    """Off the CPU the k-th best comes from torch.topk (from either side); forced here on a CPU."""
    from maskforge.sparsity import selection

    values = awkward(n, levels, seed)
    eligible = int((~torch.isnan(values)).sum())
    k = data.draw(st.integers(0, eligible))
    expected = select_topk(values, k, largest=largest)
    with pytest.MonkeyPatch.context() as patch:
        original = selection._kth_largest
        patch.setattr(selection, "_kth_largest", lambda key, k: original(key, k, by_topk=True))
        assert torch.equal(select_topk(values, k, largest=largest), expected)
