"""The index-returning selections (the pruners' and growers' fast path) equal a sort-based reference.

Inputs here are small, so the sampled bracket and the chunked pass are forced by shrinking the
module's thresholds (``SMALL``, ``CHUNK``) inside each example: every branch — open bracket ends,
ties straddling the bracket, NaNs, a bracket that misses, the complement trick — is reached.
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge import Mask
from maskforge.sparsity import index_selection as ix
from maskforge.sparsity.growers import ScoreGrower
from maskforge.sparsity.pruners import ScorePruner
from maskforge.sparsity.scores import GradientMagnitudeScore, MagnitudeScore, MomentumScore, RandomScore
from maskforge.sparsity.selection import select_count
from maskforge.testing.strategies import make_context, seeds, shape_maps
from maskforge.sparsity.update import drop_counts
from tests.test_selection_fast_path import reference, region_for, scores_with_ties

# every test here runs with the compiled kernels and again on the pure torch + numpy path
pytestmark = pytest.mark.usefixtures("both_paths")


@contextlib.contextmanager
def thresholds(small: int, chunk: int, direct: int = 0):
    saved = ix.SMALL, ix.CHUNK, ix.DIRECT
    ix.SMALL, ix.CHUNK, ix.DIRECT = small, chunk, direct
    try:
        yield
    finally:
        ix.SMALL, ix.CHUNK, ix.DIRECT = saved


# (SMALL, CHUNK, DIRECT): sampled brackets; a chunked pass with one partition of packed keys;
# the defaults (every input here is then selected directly)
forced = st.sampled_from([(1, 7, 0), (16, 64, 0), (1, 7, 1 << 20), (1 << 12, 1 << 18, 1 << 20)])


def as_mask(index: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros(n, dtype=torch.bool)
    out[index] = True
    return out


@given(n=st.integers(1, 2500), levels=st.integers(1, 6), nan_share=st.sampled_from([0.0, 0.0, 0.1, 0.6]),
       seed=seeds, largest=st.booleans(), small_chunk=forced, data=st.data())
def test_best_positions_equals_the_sort_reference(n, levels, nan_share, seed, largest, small_chunk, data):
    values = scores_with_ties(n, levels, nan_share, seed)
    k = data.draw(st.integers(0, int((~torch.isnan(values)).sum())), label="k")
    with thresholds(*small_chunk):
        got = ix.best_positions(values, torch.arange(n), k, largest=largest)
    assert got.numel() == k and got.unique().numel() == k
    assert torch.equal(as_mask(got, n), reference(values, k, largest))


@given(n=st.integers(2, 1500), levels=st.integers(1, 4), seed=seeds, largest=st.booleans(), small_chunk=forced, data=st.data())
def test_keys_break_ties_not_positions(n, levels, seed, largest, small_chunk, data):
    values = scores_with_ties(n, levels, 0.0, seed)
    keys = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # a shuffled order
    k = data.draw(st.integers(0, n), label="k")
    with thresholds(*small_chunk):
        got = ix.best_positions(values, keys, k, largest=largest)
    # The reference ranks by value, then by key: reorder the values by key and compare.
    order = torch.argsort(keys)
    expected = torch.zeros(n, dtype=torch.bool)
    expected[order[reference(values[order], k, largest)]] = True
    assert torch.equal(as_mask(got, n), expected)


@given(sizes=st.lists(st.integers(0, 700), min_size=1, max_size=4), levels=st.integers(1, 5),
       nan_share=st.sampled_from([0.0, 0.15]), seed=seeds, largest=st.booleans(), magnitude=st.booleans(),
       pooled=st.booleans(), region_share=st.sampled_from([0.02, 0.3, 0.9, 1.0]), small_chunk=forced, data=st.data())
def test_select_at_equals_the_boolean_selection(sizes, levels, nan_share, seed, largest, magnitude, pooled, region_share,
                                                small_chunk, data):
    sources = {f"t{i}": scores_with_ties(n, levels, nan_share, seed + i) for i, n in enumerate(sizes)}
    regions = {name: region_for(t.numel(), region_share, seed + i) for i, (name, t) in enumerate(sources.items())}
    scores = {n: (t.abs() if magnitude else t) for n, t in sources.items()}
    eligible = {n: int((regions[n] & ~torch.isnan(scores[n])).sum()) for n in sources}
    if pooled:
        count = data.draw(st.integers(0, sum(eligible.values())), label="k")
    else:
        count = {n: data.draw(st.integers(0, e), label=f"k[{n}]") for n, e in eligible.items()}
    index = {n: r.nonzero().squeeze(1) for n, r in regions.items()}
    with thresholds(*small_chunk):
        got = ix.select_at(sources, index, count, largest=largest, magnitude=magnitude)
    expected = select_count(scores, count, largest=largest, within=regions, method="sort")
    for n, source in sources.items():
        assert torch.equal(as_mask(got[n], source.numel()), expected[n]), n


@given(sizes=st.lists(st.integers(0, 1200), min_size=1, max_size=4), levels=st.integers(1, 5),
       nan_share=st.sampled_from([0.0, 0.0, 0.2]), seed=seeds, largest=st.booleans(), magnitude=st.booleans(),
       pooled=st.booleans(), excluded_share=st.sampled_from([None, 0.0, 0.1, 0.5, 0.97]), small_chunk=forced, data=st.data())
def test_select_outside_equals_the_boolean_selection(sizes, levels, nan_share, seed, largest, magnitude, pooled,
                                                     excluded_share, small_chunk, data):
    sources = {f"t{i}": scores_with_ties(n, levels, nan_share, seed + i).reshape(-1, 1) for i, n in enumerate(sizes)}
    excluded = None if excluded_share is None else {
        name: region_for(t.numel(), excluded_share, seed + i).reshape(t.shape) for i, (name, t) in enumerate(sources.items())}
    scores = {n: (t.abs() if magnitude else t) for n, t in sources.items()}
    within = None if excluded is None else {n: ~e for n, e in excluded.items()}
    eligible = {n: int((~torch.isnan(scores[n]) & (True if within is None else within[n])).sum()) for n in sources}
    if pooled:
        count = data.draw(st.integers(0, sum(eligible.values())), label="k")
    else:
        count = {n: data.draw(st.integers(0, e), label=f"k[{n}]") for n, e in eligible.items()}
    with thresholds(*small_chunk):
        got = ix.select_outside(sources, excluded, count, largest=largest, magnitude=magnitude)
    expected = select_count(scores, count, largest=largest, within=within, method="sort")
    for n, source in sources.items():
        assert got[n].unique().numel() == got[n].numel()
        assert torch.equal(as_mask(got[n], source.numel()).reshape(source.shape), expected[n]), n


def test_chunked_pass_over_a_large_tensor_matches_the_reference():
    values = scores_with_ties(300_000, 50, 0.01, 3)
    excluded = region_for(values.numel(), 0.1, 3)
    for k in (0, 1, 9_000, 150_000):
        for largest in (True, False):
            got = ix.select_outside({"w": values}, {"w": excluded}, {"w": k}, largest=largest, magnitude=True)["w"]
            assert torch.equal(as_mask(got, values.numel()), reference(values.abs(), k, largest, ~excluded))


def test_asking_for_too_many_entries_is_an_error_naming_the_counts():
    values = torch.tensor([1.0, float("nan"), 3.0, 2.0])
    with pytest.raises(ValueError, match="only 3 of 4 scores are not NaN"):
        ix.best_positions(values, torch.arange(4), 4, largest=True)
    with pytest.raises(ValueError, match=r"cannot select 4 entries: only 3 of 4 scores are not NaN"):
        ix.select_outside({"w": values}, None, {"w": 4}, largest=True)
    clean = torch.tensor([1.0, 0.0, 3.0, 2.0])
    with pytest.raises(ValueError, match=r"k=5 entries out of 4"):
        ix.select_outside({"w": clean}, None, {"w": 5}, largest=True)
    with pytest.raises(ValueError, match=r"k=3 entries out of 2"):
        ix.select_outside({"w": clean}, {"w": torch.tensor([True, False, True, False])}, 3, largest=True)
    with pytest.raises(ValueError, match=r"k=-1"):
        ix.select_outside({"w": clean}, None, -1, largest=True)


# -- Mask.from_indices -------------------------------------------------------------------------


@given(seed=seeds, n=st.integers(1, 400), share=st.floats(0.0, 1.0))
def test_masks_from_indices_equal_masks_from_tensors_without_building_them_early(seed, n, share):
    dense = region_for(n, share, seed).reshape(-1, 1)
    index = dense.reshape(-1).nonzero().squeeze(1)
    shuffled = index[torch.randperm(index.numel(), generator=torch.Generator().manual_seed(seed))]
    lazy = Mask.from_indices({"w": shuffled}, {"w": dense}, assume_unique=True)
    assert lazy._dense is None  # counts, names, shapes and indices need no tensors
    assert lazy.nnz() == {"w": index.numel()} and lazy.shapes == {"w": dense.shape} and len(lazy) == 1
    assert torch.equal(lazy.flat_indices("w"), shuffled) and lazy._dense is None
    moved = lazy.to("cpu").select(["w"]).clone()
    again = Mask.from_indices({"w": index}, moved, assume_unique=True)  # shapes from a lazy mask
    assert moved._dense is None and again._dense is None
    assert lazy == Mask({"w": dense}) and moved == Mask({"w": dense})
    checked = Mask.from_indices({"w": index}, {"w": dense})
    assert checked == Mask({"w": dense})
    eager = Mask({"w": dense})
    assert torch.equal(eager.flat_indices("w"), index)
    assert (eager - lazy).total_nnz == 0 and (Mask({"w": torch.ones_like(dense)}) - lazy) == Mask({"w": ~dense})


def test_from_indices_errors_are_clear():
    like = {"w": torch.zeros(2, 3, dtype=torch.bool)}
    with pytest.raises(ValueError, match="repeat an entry"):
        Mask.from_indices({"w": torch.tensor([1, 1])}, like)
    with pytest.raises(TypeError, match="1-D int64"):
        Mask.from_indices({"w": torch.tensor([1.0])}, like)
    for outside in (6, -1):  # checked even when the caller vouches for uniqueness
        with pytest.raises(ValueError, match=r"flat indices in \[0, 6\) for shape \(2, 3\)"):
            Mask.from_indices({"w": torch.tensor([0, outside])}, like, assume_unique=True)
    with pytest.raises(Exception, match="give indices for every name"):
        Mask.from_indices({"v": torch.tensor([0])}, like)


@given(seed=seeds, n=st.integers(1, 400), share=st.floats(0.0, 1.0), pick=st.floats(0.0, 1.0))
def test_masks_from_positions_are_the_parents_entries_at_those_positions(seed, n, share, pick):
    gen = torch.Generator().manual_seed(seed)
    dense = region_for(n, share, seed).reshape(-1, 1)
    index = dense.reshape(-1).nonzero().squeeze(1)
    parent = Mask.from_indices({"w": index[torch.randperm(index.numel(), generator=gen)]}, {"w": dense}, assume_unique=True)
    positions = torch.randperm(index.numel(), generator=gen)[: round(pick * index.numel())]
    sub = Mask.from_positions(parent, {"w": positions})
    expected = torch.index_select(parent.flat_indices("w"), 0, positions)
    assert sub == Mask.from_indices({"w": expected}, parent) and sub.issubset(parent)
    assert torch.equal(sub._positions_in(parent)["w"], positions)
    assert sub._positions_in(Mask({"w": dense})) is None  # an equal mask is not the parent
    assert sub.to("cpu") is sub  # already there: the same (read-only) mask, positions kept


def test_from_positions_errors_are_clear():
    parent = Mask({"w": torch.tensor([[True, False, True], [False, True, False]])})
    with pytest.raises(ValueError, match="repeat an entry"):
        Mask.from_positions(parent, {"w": torch.tensor([1, 1])})
    with pytest.raises(TypeError, match="1-D int64"):
        Mask.from_positions(parent, {"w": torch.tensor([0.0])})
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        Mask.from_positions(parent, {"w": torch.tensor([3])})
    with pytest.raises(Exception, match="give positions for every name"):
        Mask.from_positions(parent, {"v": torch.tensor([0])})


# -- the built-in pruners and growers -------------------------------------------------------------


@given(shapes=shape_maps(max_dim=24), density=st.floats(0.05, 0.95), seed=seeds, levels=st.integers(1, 4),
       fraction=st.floats(0.0, 0.9), pooled=st.booleans(), score=st.sampled_from(["magnitude", "momentum", "random"]),
       small_chunk=forced)
def test_builtin_pruners_and_growers_choose_what_the_boolean_selection_chooses(
    shapes, density, seed, levels, fraction, pooled, score, small_chunk
):
    ctx = make_context(shapes, density=density, seed=seed, levels=levels)
    pruner = ScorePruner({"magnitude": MagnitudeScore(), "momentum": MomentumScore(), "random": RandomScore()}[score])
    grower = ScoreGrower({"magnitude": GradientMagnitudeScore(), "momentum": MomentumScore(), "random": RandomScore()}[score])
    count = drop_counts(ctx.mask.nnz(), fraction, pooled)
    with thresholds(*small_chunk):
        drop = pruner.drop(ctx, count)
    ctx.generator.manual_seed(seed)
    expected_drop = select_count(pruner.score(ctx), count, largest=False, within=ctx.mask, method="sort")
    assert drop == Mask(expected_drop)
    kept = ctx.mask - drop
    grow_count = drop.total_nnz if pooled else drop.nnz()
    ctx.generator.manual_seed(seed + 1)
    with thresholds(*small_chunk):
        grow = grower.grow(ctx, kept, grow_count)
    ctx.generator.manual_seed(seed + 1)
    expected_grow = select_count(grower.score(ctx), grow_count, largest=True, within=~kept, method="sort")
    assert grow == Mask(expected_grow)


@given(n=st.integers(1, 800), seed=seeds, largest=st.booleans(), data=st.data())
def test_magnitudes_with_nan_are_never_chosen(n, seed, largest, data):
    values = scores_with_ties(n, 3, 0.3, seed).abs()  # NaN and +inf among the magnitudes
    k = data.draw(st.integers(0, int((~torch.isnan(values)).sum())), label="k")
    got = ix._best_positions(values, torch.arange(n), k, largest=largest, non_negative=True, keys_below=n)
    assert torch.equal(as_mask(got, n), reference(values, k, largest))
