"""The compiled kernels (``maskforge._native``) compute exactly what the pure torch path does.

Every scan kernel the CPU runs (AVX-512, AVX2, portable C) is compared with a torch reference on
scores with NaN, signed zeros, infinities and heavy ties, with and without an exclusion, at sizes
around the vector widths and the branch-free block; the engine's kernels with a reference of
``index_fill_`` and ``index_select``. A model trained with them and one trained on the pure path
(``MASKFORGE_NATIVE=0``) end bit-identical.
"""

from __future__ import annotations

import shutil
import sysconfig

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge import SparseEngine, prune_and_grow

from maskforge.sparsity import native
from maskforge.sparsity.growers import gradient_grower
from maskforge.sparsity.pruners import magnitude_pruner
from maskforge.testing import ShapeModel, random_mask, shape_maps
from maskforge.testing.strategies import seeds

built = pytest.mark.skipif(not native.kernels(), reason="maskforge._native was not built")


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch):
    """The kernels are under test here, even in a run with MASKFORGE_NATIVE=0 (tox -e pure)."""
    monkeypatch.setenv("MASKFORGE_NATIVE", "1")
SPECIAL = torch.tensor([float("nan"), 0.0, -0.0, float("inf"), -float("inf"), 1.0, -1.0, 0.5, -0.5])


def scores(n: int, seed: int) -> torch.Tensor:
    """Few distinct values (ties everywhere), NaN, signed zeros and infinities."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randint(-3, 4, (n,), generator=gen).float() / 2
    special = torch.rand(n, generator=gen) < 0.2
    values[special] = SPECIAL[torch.randint(len(SPECIAL), (int(special.sum()),), generator=gen)]
    return values


def reference(x, excluded, bound, largest, magnitude):
    score = x.abs() if magnitude else x
    hits = score >= bound if largest else score <= bound  # NaN compares false
    if excluded is not None:
        hits &= ~excluded
    found = hits.nonzero().squeeze(1)
    return found, score[found]


def test_the_extension_is_built_wherever_a_c_compiler_is():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) on this machine: the pure path is used")
    assert native.kernels(), "a C compiler is present but maskforge._native was not built (reinstall the package)"
    assert native.kernels()[-1] == "portable"


@built
@given(n=st.integers(0, 700), seed=seeds, largest=st.booleans(), magnitude=st.booleans(),
       exclude=st.sampled_from([None, 0.0, 0.3, 1.0]), bound=st.sampled_from(SPECIAL.tolist()),
       expected=st.sampled_from([None, 0.0, 5.0, 1e6]), data=st.data())
def test_every_scan_kernel_equals_the_torch_reference(n, seed, largest, magnitude, exclude, bound, expected, data):
    kernel = data.draw(st.sampled_from(native.kernels()))
    x = scores(n, seed)
    excluded = None if exclude is None else torch.rand(n, generator=torch.Generator().manual_seed(seed + 1)) < exclude
    got = native.reach(x, excluded, bound, largest=largest, magnitude=magnitude, expected=expected, kernel=kernel)
    want = reference(x, excluded, bound, largest, magnitude)
    assert torch.equal(got[0], want[0])
    assert torch.equal(got[1].view(torch.int32), want[1].view(torch.int32)), "scores differ (bit for bit)"


@built
@pytest.mark.parametrize("kernel", native.kernels())
def test_a_low_estimate_rescans_with_room_for_every_hit(kernel):
    x = torch.randn(50_000, generator=torch.Generator().manual_seed(0))
    got = native.reach(x, None, 0.5, largest=True, magnitude=True, expected=1.0, kernel=kernel)  # ~31K hits
    want = reference(x, None, 0.5, True, True)
    assert want[0].numel() > 4096 + 100 and torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@built
@pytest.mark.parametrize("kernel", range(len(native.kernels())))
def test_the_kernel_writes_nothing_past_its_capacity_and_counts_every_hit(kernel):
    from maskforge import _native

    x = torch.ones(1000)
    positions = torch.full((300,), -7, dtype=torch.long)
    values = torch.full((300,), -7.0)
    found = _native.reach(x.data_ptr(), 1000, 0, 1.0, True, False, positions.data_ptr(), values.data_ptr(), 200, 5, kernel)
    assert found == 1000
    assert torch.equal(positions[:200], torch.arange(200) + 5) and torch.all(values[:200] == 1)
    assert torch.all(positions[200:] == -7) and torch.all(values[200:] == -7)


@built
def test_bad_kernel_arguments_are_refused():
    from maskforge import _native

    with pytest.raises(ValueError, match="kernel must be in"):
        _native.reach(0, 0, 0, 0.0, True, True, 0, 0, 0, 0, 99)
    with pytest.raises(ValueError, match="non-negative"):
        _native.reach(0, -1, 0, 0.0, True, True, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="targets"):
        _native.clear_left(0, 0, 0, 0, [])


@built
def test_inputs_the_kernels_do_not_take_fall_back_to_the_pure_path():
    x = torch.randn(64)
    assert native.reach(x.double(), None, 0.0, largest=True, magnitude=True) is None
    assert native.reach(x.half(), None, 0.0, largest=True, magnitude=True) is None
    assert native.reach(x[::2], None, 0.0, largest=True, magnitude=True) is None  # not contiguous
    assert native.reach(x, torch.zeros(63, dtype=torch.bool), 0.0, largest=True, magnitude=True) is None
    assert native.reach(x, torch.zeros(64, dtype=torch.uint8), 0.0, largest=True, magnitude=True) is None
    flags, index = torch.zeros(64, dtype=torch.bool), torch.tensor([1, 2])
    assert native.mark(flags, index.int()) is None and native.mark(flags.byte(), index) is None
    assert native.mark(flags, index, ones=x.double()) is None and native.mark(flags, index, ones=x[:32]) is None
    assert native.sample(x.double(), None, 10, seed=0, magnitude=True) is None
    assert native.gather_magnitudes(x.double(), index) is None and native.gather_magnitudes(x, index.int()) is None
    assert native.replace_at(index, index, index[:1]) is None  # sizes differ
    assert native.clear_left(flags, index, [x.double()]) is None
    assert native.clear_left(flags, index, [x[:32]]) is None
    assert native.clear_left(flags, index, [x] * 17) is None


@built
def test_the_environment_turns_the_kernels_off(monkeypatch):
    monkeypatch.setenv("MASKFORGE_NATIVE", "0")
    assert not native.enabled() and native.kernel_in_use().startswith("none")
    assert native.reach(torch.randn(8), None, 0.0, largest=True, magnitude=True) is None
    assert native.mark(torch.zeros(8, dtype=torch.bool), torch.tensor([1])) is None


@built
@given(n=st.integers(1, 500), m=st.integers(0, 300), seed=seeds, share=st.floats(0.0, 1.0))
def test_mark_sets_the_flags_and_counts_those_set_already(n, m, seed, share):
    gen = torch.Generator().manual_seed(seed)
    flags = torch.rand(n, generator=gen) < share
    index = torch.randint(n, (m,), generator=gen)  # repeats included
    want_flags = flags.clone().index_fill_(0, index, True)
    seen = flags.clone()
    already = 0
    for i in index.tolist():
        already += int(seen[i])
        seen[i] = True
    ones = torch.rand(n, generator=gen)
    want_ones = ones.clone().index_fill_(0, index, 1.0)
    versions = flags._version, ones._version
    assert native.mark(flags, index, ones=ones) == already
    assert torch.equal(flags, want_flags) and torch.equal(ones, want_ones)
    assert flags._version > versions[0] and ones._version > versions[1]


@built
@given(n=st.integers(1, 500), m=st.integers(0, 300), seed=seeds, targets=st.integers(1, 4))
def test_clear_left_zeroes_every_target_at_the_drops_not_active_after(n, m, seed, targets):
    gen = torch.Generator().manual_seed(seed)
    after = torch.rand(n, generator=gen) < 0.5
    drops = torch.randint(n, (m,), generator=gen)
    tensors = [torch.randn(n, generator=gen) for _ in range(targets)]
    left = drops[~after[drops]]
    want = [t.clone().index_fill_(0, left, 0.0) for t in tensors]
    versions = [t._version for t in tensors]
    assert native.clear_left(after, drops, tensors) == left.numel()
    for t, w, v in zip(tensors, want, versions):
        assert torch.equal(t, w) and t._version > v


@built
@given(n=st.integers(1, 400), seed=seeds, exclude=st.sampled_from([None, 0.0, 0.5, 1.0]), magnitude=st.booleans())
def test_the_sample_draws_only_eligible_scores_and_repeats_for_a_seed(n, seed, exclude, magnitude):
    x = scores(n, seed)
    excluded = None if exclude is None else torch.rand(n, generator=torch.Generator().manual_seed(seed + 1)) < exclude
    got = native.sample(x, excluded, 2000, seed=seed, magnitude=magnitude)
    assert torch.equal(got, native.sample(x, excluded, 2000, seed=seed, magnitude=magnitude))
    eligible = ~torch.isnan(x) if excluded is None else ~torch.isnan(x) & ~excluded
    pool = (x.abs() if magnitude else x)[eligible]
    assert not torch.isnan(got).any() and torch.isin(got, pool).all()
    assert got.numel() <= 2000 and (got.numel() > 0) == bool(eligible.any())
    if bool(eligible.all()):
        assert got.numel() == 2000


@built
def test_the_sample_is_uniform_over_positions():
    x = torch.arange(10, dtype=torch.float32)
    counts = torch.bincount(native.sample(x, None, 100_000, seed=3, magnitude=False).long(), minlength=10)
    assert counts.min() > 9_500 and counts.max() < 10_500  # 10,000 expected each (sd ~95)


@built
@given(n=st.integers(1, 500), m=st.integers(0, 300), seed=seeds)
def test_gather_magnitudes_equals_index_select_and_reports_nan(n, m, seed):
    x = scores(n, seed)
    index = torch.randint(n, (m,), generator=torch.Generator().manual_seed(seed))
    values, nan = native.gather_magnitudes(x, index)
    want = x[index].abs()
    assert torch.equal(values.view(torch.int32), want.view(torch.int32)) and nan == bool(torch.isnan(want).any())


@built
@given(n=st.integers(0, 400), seed=seeds, share=st.floats(0.0, 1.0))
def test_replace_at_writes_the_values_at_increasing_positions_and_refuses_others(n, seed, share):
    gen = torch.Generator().manual_seed(seed)
    old = torch.randint(1 << 40, (n,), generator=gen)
    positions = (torch.rand(n, generator=gen) < share).nonzero().squeeze(1)
    values = torch.randint(1 << 40, (positions.numel(),), generator=gen)
    assert torch.equal(native.replace_at(old, positions, values), old.clone().index_copy_(0, positions, values))
    if positions.numel() >= 2:
        assert native.replace_at(old, positions.flip(0), values) is None  # decreasing
        assert native.replace_at(old, torch.cat([positions[:1], positions[:-1]]), values) is None  # repeated
    assert native.replace_at(old, torch.tensor([n]), torch.tensor([0])) is None  # out of range
    assert native.replace_at(old, torch.tensor([-1]), torch.tensor([0])) is None


@built
def test_an_index_out_of_range_is_reported_and_never_written():
    flags = torch.zeros(10, dtype=torch.bool)
    with pytest.raises(IndexError, match="1 indices out of range for 10 entries"):
        native.mark(flags, torch.tensor([3, 10]))
    assert flags.nonzero().squeeze(1).tolist() == [3]
    with pytest.raises(IndexError, match="1 indices out of range for 10 entries"):
        native.gather_magnitudes(torch.ones(10), torch.tensor([0, 10]))
    target = torch.ones(10)
    with pytest.raises(IndexError, match="2 indices out of range"):
        native.clear_left(torch.zeros(10, dtype=torch.bool), torch.tensor([-1, 2, 99]), [target])
    assert target.tolist() == [1, 1, 0, 1, 1, 1, 1, 1, 1, 1]


@built
@given(shapes=shape_maps(), seed=seeds, density=st.floats(0.05, 0.9))
def test_training_with_the_kernels_is_bit_identical_to_the_pure_path(shapes, seed, density):
    def run(enabled: str):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MASKFORGE_NATIVE", enabled)
            model = ShapeModel(shapes, seed)
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
            engine = SparseEngine(model, random_mask({n: p.shape for n, p in model.named_parameters()}, density, seed), opt)
            stats = []
            for step in range(1, 7):
                opt.zero_grad()
                model().backward()
                if step % 2 == 0:  # gradients from steps apart: some dropped entries are regrown at once
                    stats.append(prune_and_grow(engine, magnitude_pruner(), gradient_grower(), 0.5, step=step))
                opt.step()
            return engine, opt, stats

    (compiled, compiled_opt, compiled_stats), (pure, pure_opt, pure_stats) = run("1"), run("0")
    assert compiled_stats == pure_stats
    assert compiled.mask == pure.mask and compiled.ever_active == pure.ever_active
    assert all(torch.equal(i, j) for i, j in zip(compiled._float_masks, pure._float_masks))
    for (name, p), q in zip(compiled.params.items(), pure.params.values()):
        assert torch.equal(p.view(torch.int32), q.view(torch.int32)), name
        for key, value in compiled_opt.state[p].items():
            assert torch.equal(value, pure_opt.state[q][key]), (name, key)
