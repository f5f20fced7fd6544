"""DESIGN invariant 6: mask algebra laws, pack/unpack and state_dict round-trips."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge import Mask, MaskMismatchError
from maskforge.sparsity.packing import pack_bits, unpack_bits
from maskforge.testing import random_mask, shape_maps
from maskforge.testing.strategies import seeds


@st.composite
def three_masks(draw):
    shapes = draw(shape_maps())
    return tuple(random_mask(shapes, draw(st.floats(0, 1)), draw(seeds)) for _ in range(3))


@given(three_masks())
def test_de_morgan_laws_hold(ms):
    a, b, _ = ms
    assert ~(a & b) == (~a | ~b)
    assert ~(a | b) == (~a & ~b)


@given(three_masks())
def test_idempotence_absorption_and_double_complement(ms):
    a, b, _ = ms
    assert a & a == a and a | a == a
    assert a & (a | b) == a and a | (a & b) == a
    assert ~~a == a


@given(three_masks())
def test_and_not_and_xor_are_consistent_with_and_or_not(ms):
    a, b, c = ms
    assert a - b == a & ~b
    assert a ^ b == (a - b) | (b - a)
    assert (a & b) & c == a & (b & c)
    assert a & (b | c) == (a & b) | (a & c)
    assert (a - b).isdisjoint(b) and (a - b).issubset(a)


@given(three_masks())
def test_counts_are_additive_over_disjoint_parts(ms):
    a, b, _ = ms
    assert (a | b).total_nnz == (a - b).total_nnz + (b - a).total_nnz + (a & b).total_nnz
    assert a.total_nnz + (~a).total_nnz == a.total_numel
    for name, d in a.density().items():
        assert d == pytest.approx(a.nnz()[name] / a[name].numel())


@given(st.integers(0, 70), seeds)
def test_pack_unpack_round_trip_any_length(n, seed):
    bits = torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5
    packed = pack_bits(bits)
    assert packed.dtype == torch.uint8 and packed.numel() == (n + 7) // 8
    assert torch.equal(unpack_bits(packed, (n,)), bits)


@given(three_masks())
def test_state_dict_round_trip_is_exact_and_bit_packed(ms):
    a = ms[0]
    state = a.state_dict()
    for packed, t in zip(state["packed"], a.values()):
        assert packed.numel() == (t.numel() + 7) // 8
    assert Mask.from_state_dict(state) == a
    target = Mask.zeros(a.shapes)
    target.load_state_dict(state)
    assert target == a


def test_state_dict_survives_torch_save_with_weights_only(tmp_path):
    a = random_mask({"w": (5, 7), "v": (13,)}, 0.3, 1)
    torch.save(a.state_dict(), tmp_path / "m.pt")
    assert Mask.from_state_dict(torch.load(tmp_path / "m.pt", weights_only=True)) == a


def test_operators_reject_masks_over_different_parameters():
    a = Mask.ones({"w": (2, 2)})
    with pytest.raises(MaskMismatchError, match="different parameters"):
        a & Mask.ones({"v": (2, 2)})
    with pytest.raises(MaskMismatchError, match="shape"):
        a | Mask.ones({"w": (2, 3)})
    with pytest.raises(TypeError, match="both sides must be Masks"):
        a & torch.ones(2, 2, dtype=torch.bool)


def test_non_bool_tensors_are_rejected_with_a_fix():
    with pytest.raises(TypeError, match="must be a bool tensor.*tensor != 0"):
        Mask({"w": torch.ones(3)})


def test_truncated_packed_state_is_detected():
    state = Mask.ones({"w": (4, 4)}).state_dict()
    state["packed"][0] = state["packed"][0][:1]
    with pytest.raises(ValueError, match="truncated"):
        Mask.from_state_dict(state)


def test_apply_zeroes_inactive_weights_and_from_nonzero_recovers_the_mask():
    model = torch.nn.Linear(6, 4)
    mask = random_mask({"weight": (4, 6)}, 0.5, 3)
    mask.apply_(model)
    assert torch.all(model.weight[~mask["weight"]] == 0)
    assert Mask.from_nonzero(model, ["weight"]) == mask


def test_apply_to_a_model_without_the_parameter_fails_clearly():
    with pytest.raises(MaskMismatchError, match="no such parameter"):
        Mask.ones({"nope": (2,)}).apply_(torch.nn.Linear(2, 2))


def test_summary_lists_every_parameter_and_the_total():
    mask = random_mask({"a.weight": (3, 4), "b.weight": (5,)}, 0.5, 0)
    text = mask.summary()
    assert "a.weight" in text and "b.weight" in text and "total" in text
    assert f"{mask.total_nnz}" in text
    assert "density" in repr(mask)


def test_masks_pickle_with_their_counts():
    import pickle

    base = Mask({"w": torch.tensor([True, False, True, True]), "v": torch.zeros(2, 3, dtype=torch.bool)})
    base.nnz()
    for m in (base, base - base, ~base):
        copy = pickle.loads(pickle.dumps(m))
        assert copy == m and copy.nnz() == m.nnz()
