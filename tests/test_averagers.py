"""EMA and SEMA (STU-GAN eq. 5)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from maskforge import EMA, SEMA, Mask


def _model(value):
    model = nn.Linear(3, 1, bias=True)
    with torch.no_grad():
        model.weight.fill_(value)
        model.bias.fill_(value)
    return model


@given(st.floats(0.0, 0.999), st.lists(st.floats(-10, 10), min_size=1, max_size=8))
def test_ema_follows_the_recurrence(beta, values):
    ema, model = EMA(beta=beta), _model(values[0])
    expected = values[0]
    ema.update(model, step=1)
    for v in values[1:]:
        with torch.no_grad():
            model.weight.fill_(v)
        ema.update(model, step=2)
        expected = beta * expected + (1 - beta) * v
    assert ema.shadow["weight"][0, 0].item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_ema_tracks_the_weights_before_its_start_step():
    ema, model = EMA(beta=0.9, start_step=10), _model(1.0)
    ema.update(model, step=1)
    with torch.no_grad():
        model.weight.fill_(5.0)
    ema.update(model, step=5)
    assert ema.shadow["weight"][0, 0].item() == 5.0


def test_sema_starts_new_weights_at_their_value_and_zeroes_inactive_ones():
    beta = 0.999
    model = _model(0.0)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0, 0.0]]))  # entry 2 inactive, so zero
    sema, ema = SEMA(beta=beta), EMA(beta=beta)
    mask1 = Mask({"weight": torch.tensor([[True, True, False]])})
    sema.update(model, mask1, step=1)
    ema.update(model, None, step=1)
    # T == 1 for the active entries: the average equals the weight; T == 0: zero.
    assert sema.shadow["weight"].tolist() == [[1.0, 2.0, 0.0]]
    # Now entry 2 is grown (T = 1) and entry 1 dropped (T = 0); entry 0 has T = 2.
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, 0.0, 4.0]]))
    mask2 = Mask({"weight": torch.tensor([[True, False, True]])})
    sema.update(model, mask2, step=2)
    ema.update(model, None, step=2)
    got = sema.shadow["weight"][0]
    assert got[0].item() == pytest.approx(beta * 1.0 + (1 - beta) * 3.0)
    assert got[1].item() == 0.0
    assert got[2].item() == 4.0  # plain EMA would give ~ (1 - beta) * 4 = 0.004 here
    assert ema.shadow["weight"][0, 2].item() == pytest.approx(0.0 * beta + (1 - beta) * 4.0, abs=1e-6)


def test_averagers_round_trip_their_state_and_copy_into_a_model():
    model = _model(2.0)
    sema = SEMA(beta=0.5)
    sema.update(model, Mask({"weight": torch.tensor([[True, False, True]])}), step=1)
    restored = SEMA()
    restored.load_state_dict(sema.state_dict())
    target = _model(0.0)
    restored.copy_to(target)
    assert target.weight.tolist() == [[2.0, 0.0, 2.0]] and restored.previous["weight"].tolist() == [[True, False, True]]


def test_copy_before_any_update_is_a_clear_error():
    with pytest.raises(RuntimeError, match="call update"):
        EMA().copy_to(_model(0.0))


@pytest.mark.parametrize("beta", [1.0, -0.1])
def test_beta_outside_zero_one_is_rejected(beta):
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\)"):
        SEMA(beta=beta)


class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(3, 3, bias=False)
        self.head = nn.Linear(3, 3, bias=False)
        self.head.weight = self.emb.weight  # one tensor, two state-dict names


def test_tied_weights_are_averaged_under_every_name_and_copied_back_averaged():
    model, ema = _Tied(), EMA(beta=0.9)
    ema.update(model)
    start = model.emb.weight.detach().clone()
    with torch.no_grad():
        model.emb.weight.add_(1.0)
    ema.update(model, step=1)
    expected = 0.9 * start + 0.1 * model.emb.weight.detach()
    assert torch.allclose(ema.shadow["emb.weight"], expected) and torch.allclose(ema.shadow["head.weight"], expected)
    copy = _Tied()
    ema.copy_to(copy)
    assert torch.allclose(copy.emb.weight, expected)
