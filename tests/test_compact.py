"""Compact state dicts: bit-identical round trips, dtypes/shapes/buffers kept, small when sparse."""

from __future__ import annotations

import io
from collections import OrderedDict

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge import SparseEngine, erdos_renyi_kernel
from maskforge.storage.compact import (
    FORMAT,
    _decode,
    _gap_bytes,
    compact_state_dict,
    expand_state_dict,
    load_compact,
    save_compact,
)
from maskforge.models import BigGANGenerator
from maskforge.sparsity.packing import pack_bits
from maskforge.sparsity.sparsify import allocate, init_mask
from maskforge.testing.strategies import seeds

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32,
          torch.int16, torch.uint8, torch.bool, torch.complex64]


def raw(t: torch.Tensor) -> bytes:
    """The tensor's bytes (what "bit-identical" compares)."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def assert_identical(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for name, value in a.items():
        other = b[name]
        if isinstance(value, torch.Tensor):
            assert isinstance(other, torch.Tensor), name
            assert other.dtype == value.dtype and other.shape == value.shape, name
            assert raw(other) == raw(value), name
        else:
            assert other == value, name


def through_file(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def saved_bytes(obj) -> int:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return len(buffer.getvalue())


def sparse_tensor(shape: tuple[int, ...], dtype: torch.dtype, density: float, seed: int) -> torch.Tensor:
    """Random values at ``density``, zeros elsewhere, with -0.0, NaNs, infinities and subnormals."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    keep = torch.rand(shape, generator=gen) < density
    special = torch.rand(shape, generator=gen)
    if dtype.is_floating_point or dtype.is_complex:
        values = torch.where(keep, values, torch.where(special < 0.5, -0.0, 0.0))
        values[keep & (special < 0.05)] = float("nan")
        values[keep & (special > 0.95)] = float("inf")
        values[keep & (special > 0.9) & (special <= 0.95)] = 1e-310
        out = values.to(dtype)
        if dtype == torch.float32:  # a NaN with a payload: only its bits tell it apart
            flat = out.reshape(-1).view(torch.int32)
            flat[(keep & (special < 0.02)).reshape(-1)] = 0x7FC0_1234
        return out
    if dtype == torch.bool:
        return keep
    info = torch.iinfo(dtype)
    ints = torch.randint(max(info.min, -1000), min(info.max, 1000) + 1, shape, generator=gen, dtype=torch.int64)
    return torch.where(keep, ints, 0).to(dtype)


shapes = st.one_of(
    st.just(()),
    st.tuples(st.integers(0, 40)),
    st.tuples(st.integers(1, 30), st.integers(1, 30)),
    st.tuples(st.integers(1, 8), st.integers(1, 8), st.sampled_from([1, 3]), st.sampled_from([1, 3])),
    st.tuples(st.integers(1000, 70_000)),
)


@given(
    entries=st.lists(st.tuples(shapes, st.sampled_from(DTYPES), st.sampled_from([0.0, 0.01, 0.05, 0.3, 1.0])), min_size=1, max_size=6),
    seed=seeds,
    keep_signs=st.booleans(),
)
def test_random_sparse_state_dicts_round_trip_bit_for_bit(entries, seed, keep_signs):
    state = OrderedDict(
        (f"layer{i}.w", sparse_tensor(shape, dtype, density, seed + i)) for i, (shape, dtype, density) in enumerate(entries)
    )
    state["step"] = 7  # a non-tensor entry travels as it is
    compact = through_file(compact_state_dict(state, keep_zero_signs=keep_signs))
    assert compact["format"] == FORMAT
    back = expand_state_dict(compact)
    if keep_signs:
        assert_identical(state, back)
    else:
        assert list(back) == list(state)
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                assert back[name].dtype == value.dtype and back[name].shape == value.shape
                assert torch.equal(back[name].nan_to_num(), value.nan_to_num())  # -0.0 == +0.0


@pytest.mark.parametrize("positions", [[0], [70_000 - 1], [0, 1, 2], [254, 509, 510, 1020, 1021, 69_999], [3, 60_000]])
def test_every_position_encoding_round_trips_including_long_gaps(positions):
    t = torch.zeros(70_000)
    t[positions] = torch.arange(1, len(positions) + 1, dtype=torch.float32)
    entry = compact_state_dict({"t": t})["tensors"]["t"]
    assert entry["encoding"] in ("gaps", "index")
    assert raw(expand_state_dict(compact_state_dict({"t": t}))["t"]) == raw(t)
    at = (t != 0).nonzero().squeeze(1)
    header = {"dtype": "float32", "shape": [70_000], "values": t[at]}
    for fields in (
        {"encoding": "gaps", "gaps": _gap_bytes(at)},
        {"encoding": "index", "indices": at.to(torch.int32)},
        {"encoding": "bitmask", "mask": pack_bits(t != 0)},
    ):
        assert raw(_decode("t", {**header, **fields})) == raw(t), fields["encoding"]


def sparse_biggan(density: float = 0.05) -> tuple[BigGANGenerator, SparseEngine]:
    torch.manual_seed(0)
    model = BigGANGenerator(resolution=32, width=1.0, n_classes=10)
    mask = init_mask(model, allocate(model, density, erdos_renyi_kernel), generator=torch.Generator().manual_seed(0))
    engine = SparseEngine(model, mask, torch.optim.Adam(model.parameters(), lr=1e-4))
    z, y = torch.randn(4, 128), torch.randint(0, 10, (4,))
    model(z, y).square().mean().backward()  # moves BN statistics and spectral-norm vectors
    engine.optimizer.step()
    return model, engine


def test_a_95_percent_sparse_biggan_generator_round_trips_and_loads(tmp_path):
    model, engine = sparse_biggan()
    assert abs(engine.mask.total_density - 0.05) < 1e-3
    state = model.state_dict()
    path = save_compact(state, tmp_path / "g.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]  # written atomically, no leftovers
    back = load_compact(path)
    assert_identical(state, back)
    assert back._metadata == state._metadata
    fresh = BigGANGenerator(resolution=32, width=1.0, n_classes=10)
    fresh.load_state_dict(back)
    model.eval(), fresh.eval()
    z, y = torch.randn(3, 128, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 4, 9])
    with torch.no_grad():
        assert torch.equal(model(z, y), fresh(z, y))


def test_dtypes_shapes_and_buffers_are_preserved():
    bn = torch.nn.BatchNorm2d(5)
    bn(torch.randn(4, 5, 3, 3))
    state = bn.state_dict()
    state["extra.half"] = torch.zeros(3, 4, dtype=torch.float16)
    state["extra.empty"] = torch.zeros(0, 7)
    state["extra.flags"] = torch.tensor([True, False] * 50)
    back = expand_state_dict(through_file(compact_state_dict(state)))
    assert_identical(state, back)
    assert back["num_batches_tracked"].dtype == torch.int64 and back["num_batches_tracked"].dim() == 0
    torch.nn.BatchNorm2d(5).load_state_dict({k: v for k, v in back.items() if not k.startswith("extra.")})


def test_compact_size_is_below_0_085_of_dense_at_95_percent_sparsity():
    model, _ = sparse_biggan()
    state = model.state_dict()
    dense = saved_bytes(state)
    # Masking by multiplication leaves -0.0 where a negative weight was masked: about half of the
    # zeros, one incompressible bit each. Stored as +0.0, the checkpoint is small.
    assert saved_bytes(compact_state_dict(state, keep_zero_signs=False)) < 0.085 * dense
    # Bit-identical storage is as small when the zeros are +0.0.
    with torch.no_grad():
        for value in state.values():
            if value.is_floating_point():
                value.add_(0.0)  # -0.0 + 0.0 == +0.0; every other value unchanged
    compact = compact_state_dict(state)
    assert saved_bytes(compact) < 0.085 * dense
    assert_identical(state, expand_state_dict(through_file(compact)))


def test_not_a_compact_file_is_a_clear_error(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(3)}, plain)
    with pytest.raises(ValueError, match="not a compact state dict"):
        load_compact(plain)
    compact = compact_state_dict({"w": torch.tensor([0.0] * 100 + [1.0, 2.0])})
    compact["tensors"]["w"]["values"] = compact["tensors"]["w"]["values"][:1]
    with pytest.raises(ValueError, match="corrupt"):
        expand_state_dict(compact)
