"""The fast exact top-k equals a sort-based reference; the engine's fused masking equals w * mask.

The sampled path is forced with ``method="sample"`` on small inputs (every branch of the bracket
is reached there: open ends, ties straddling it, NaNs, regions gathered or folded into the pass),
and taken by ``method="auto"`` on inputs large enough to use cache-sized chunks.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maskforge import Mask, SparseEngine
from maskforge.sparsity.selection import _CHUNK, select_topk, select_topk_global, select_topk_per_tensor
from maskforge.testing.strategies import seeds

# every test here runs with the compiled kernels and again on the pure torch + numpy path
pytestmark = pytest.mark.usefixtures("both_paths")


def reference(values: torch.Tensor, k: int, largest: bool, region: torch.Tensor | None = None) -> torch.Tensor:
    """One stable sort: by score, then by flat position; NaN and out-of-region entries last."""
    flat = values.reshape(-1).double()
    eligible = ~torch.isnan(flat)
    if region is not None:
        eligible &= region.reshape(-1)
    key = torch.where(eligible, -flat if largest else flat, torch.zeros_like(flat))
    order = torch.sort(key, stable=True).indices
    order = order[eligible[order]]
    out = torch.zeros(flat.numel(), dtype=torch.bool)
    out[order[:k]] = True
    return out.reshape(values.shape)


def scores_with_ties(n: int, levels: int, nan_share: float, seed: int, dtype=torch.float32) -> torch.Tensor:
    """Few distinct values (heavy ties), some infinities and a share of NaNs."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randint(-levels, levels + 1, (n,), generator=gen).to(torch.float64) / max(1, levels)
    special = torch.rand(n, generator=gen)
    values[special < 0.01] = float("inf")
    values[(special >= 0.01) & (special < 0.02)] = -float("inf")
    values[torch.rand(n, generator=gen) < nan_share] = float("nan")
    return values.to(dtype)


def region_for(n: int, share: float, seed: int) -> torch.Tensor:
    return torch.rand(n, generator=torch.Generator().manual_seed(seed + 7)) < share


@given(
    n=st.integers(1, 3000),
    levels=st.integers(1, 6),
    nan_share=st.sampled_from([0.0, 0.0, 0.1, 0.6]),
    seed=seeds,
    largest=st.booleans(),
    region_share=st.sampled_from([None, 0.05, 0.5, 0.95, 1.0]),
    method=st.sampled_from(["sample", "auto"]),
    data=st.data(),
)
def test_single_tensor_equals_the_sort_reference(n, levels, nan_share, seed, largest, region_share, method, data):
    values = scores_with_ties(n, levels, nan_share, seed)
    region = None if region_share is None else region_for(n, region_share, seed)
    eligible = ~torch.isnan(values) if region is None else ~torch.isnan(values) & region
    k = data.draw(st.integers(0, int(eligible.sum())), label="k")
    got = select_topk(values, k, largest=largest, within=region, method=method)
    assert torch.equal(got, reference(values, k, largest, region))
    assert int(got.sum()) == k


@given(
    sizes=st.lists(st.integers(0, 900), min_size=1, max_size=5),
    levels=st.integers(1, 4),
    nan_share=st.sampled_from([0.0, 0.2]),
    seed=seeds,
    largest=st.booleans(),
    region_share=st.sampled_from([None, 0.1, 0.7]),
    data=st.data(),
)
def test_global_selection_equals_the_reference_over_the_concatenation(sizes, levels, nan_share, seed, largest, region_share, data):
    scores = {f"t{i}": scores_with_ties(n, levels, nan_share, seed + i).reshape(-1, 1) for i, n in enumerate(sizes)}
    regions = None if region_share is None else {
        name: region_for(t.numel(), region_share, seed + i).reshape(t.shape) for i, (name, t) in enumerate(scores.items())
    }
    flat = torch.cat([t.reshape(-1) for t in scores.values()])
    flat_region = None if regions is None else torch.cat([r.reshape(-1) for r in regions.values()])
    eligible = ~torch.isnan(flat) if flat_region is None else ~torch.isnan(flat) & flat_region
    k = data.draw(st.integers(0, int(eligible.sum())), label="k")
    expected = reference(flat, k, largest, flat_region)
    for method in ("sample", "auto", "sort"):
        got = select_topk_global(scores, k, largest=largest, within=regions, method=method)
        assert list(got) == list(scores)
        assert all(got[n].shape == scores[n].shape for n in scores)
        assert torch.equal(torch.cat([g.reshape(-1) for g in got.values()]), expected), method


@settings(max_examples=20)
@given(
    levels=st.sampled_from([1, 3, 50, 10_000]),
    nan_share=st.sampled_from([0.0, 0.05]),
    seed=seeds,
    largest=st.booleans(),
    region_share=st.sampled_from([None, 0.1, 0.9]),
    fraction=st.sampled_from([0.0001, 0.1, 0.5, 0.97, 1.0]),
)
def test_inputs_spanning_several_chunks_take_the_sampled_path_and_stay_exact(levels, nan_share, seed, largest, region_share, fraction):
    n = _CHUNK + 40_961  # two chunks, the second one partial
    values = scores_with_ties(n, levels, nan_share, seed)
    region = None if region_share is None else region_for(n, region_share, seed)
    eligible = ~torch.isnan(values) if region is None else ~torch.isnan(values) & region
    k = round(fraction * int(eligible.sum()))
    got = select_topk(values, k, largest=largest, within=region)  # auto: sampled path
    assert torch.equal(got, reference(values, k, largest, region))


@given(seed=seeds, dtype=st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint8]), data=st.data())
def test_other_dtypes_match_the_sort_path(seed, dtype, data):
    gen = torch.Generator().manual_seed(seed)
    values = (torch.rand(6000, generator=gen) * 40).to(dtype)
    k = data.draw(st.integers(0, values.numel()))
    for largest in (True, False):
        assert torch.equal(select_topk(values, k, largest=largest, method="sample"), select_topk(values, k, largest=largest, method="sort"))


def test_edge_cases_of_the_bracket():
    n = 50_000
    same = torch.full((n,), 0.25)
    for k in (0, 1, n // 3, n - 1, n):
        got = select_topk(same, k)
        assert torch.equal(got, torch.arange(n) < k)  # all tied: the first k positions
    ramp = torch.arange(n, dtype=torch.float32)
    assert torch.equal(select_topk(ramp, 1), ramp == n - 1)
    assert torch.equal(select_topk(ramp, 1, largest=False), ramp == 0)
    mostly_nan = torch.full((n,), float("nan"))
    mostly_nan[::1000] = 1.0
    assert torch.equal(select_topk(mostly_nan, 50), mostly_nan == 1.0)


def test_per_tensor_selection_matches_the_reference():
    gen = torch.Generator().manual_seed(3)
    scores = {"a": torch.randint(0, 5, (300, 40), generator=gen).float(), "b": torch.randn(7000, generator=gen), "c": torch.randn(3)}
    counts = {"a": 1234, "b": 4321, "c": 2}
    got = select_topk_per_tensor(scores, counts)
    for name, s in scores.items():
        assert torch.equal(got[name], reference(s, counts[name], True))


# -- the engine's fused masking ------------------------------------------------------------------


def special_weights(shape: tuple[int, ...], seed: int, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=gen)
    pick = torch.rand(shape, generator=gen)
    w[pick < 0.05] = -0.0
    w[(pick >= 0.05) & (pick < 0.07)] = float("inf")
    w[(pick >= 0.07) & (pick < 0.09)] = -float("inf")
    w[(pick >= 0.09) & (pick < 0.1)] = float("nan")
    w[(pick >= 0.1) & (pick < 0.12)] = 1e-42  # subnormal
    return w.to(dtype)


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])


class Two(torch.nn.Module):
    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.a = torch.nn.Linear(13, 7).to(dtype)
        self.b = torch.nn.Linear(7, 5).to(dtype)


@given(seed=seeds, density=st.floats(0.0, 1.0), dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]))
def test_fused_masking_equals_plain_multiplication_bit_for_bit(seed, density, dtype):
    model = Two(dtype)
    gen = torch.Generator().manual_seed(seed)
    names = ["a.weight", "b.weight"]
    mask = Mask({n: torch.rand(dict(model.named_parameters())[n].shape, generator=gen) < density for n in names})
    params = dict(model.named_parameters())
    with torch.no_grad():
        for i, n in enumerate(names):
            params[n].copy_(special_weights(params[n].shape, seed + i, dtype))
    before = {n: params[n].detach().clone() for n in names}
    engine = SparseEngine(model, mask, check_invariants=False)
    for n in names:  # binding sets inactive weights to exactly +0.0 (even NaN, inf or -0.0 ones)
        expected = torch.where(mask[n], before[n], torch.zeros((), dtype=dtype))
        assert torch.equal(bits(params[n]), bits(expected)), n

    grads = {n: special_weights(params[n].shape, seed + 10 + i, dtype) for i, n in enumerate(names)}
    params["a.weight"].grad = grads["a.weight"].clone()
    params["b.weight"].grad = None  # parameters without a gradient are skipped
    engine.mask_gradients()
    assert params["b.weight"].grad is None
    assert torch.equal(bits(params["a.weight"].grad), bits(grads["a.weight"] * mask["a.weight"].to(dtype)))

    # After a mask update the cached float masks follow the new mask.
    new = Mask({n: torch.rand(mask[n].shape, generator=gen) < 0.5 for n in names})
    engine.set_mask(new)
    with torch.no_grad():
        for i, n in enumerate(names):
            params[n].copy_(special_weights(params[n].shape, seed + 20 + i, dtype))
    current = {n: params[n].detach().clone() for n in names}
    engine.enforce()
    for n in names:
        expected = current[n] * new[n].to(dtype)
        if dtype == torch.float16:  # re-zeroed with masked_fill_ (Adam's 0/0 = NaN at float16): exactly +0.0
            expected = torch.where(new[n], expected, torch.zeros((), dtype=dtype))
        assert torch.equal(bits(params[n]), bits(expected)), n
