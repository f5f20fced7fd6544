"""The mask bank: several masks over one set of weights, switched without touching them."""

import pytest
import torch

from maskforge.strategy.mask_bank import MaskBank
from maskforge.plugin_system.manager import get_plugins
from maskforge.testing import random_mask
from tests.strategy_helpers import student


def _bank(model):
    shapes = {n: p.shape for n, p in model.named_parameters() if n.endswith("weight")}
    return MaskBank({"digits": random_mask(shapes, 0.3, 1), "faces": random_mask(shapes, 0.3, 2)})


def test_switching_masks_changes_outputs_but_never_the_weights(tmp_path):
    model = student()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(4, 8)
    dense_out = model(x)
    bank = _bank(model)
    bank.save(tmp_path / "bank.pt")
    bank = MaskBank.load(tmp_path / "bank.pt")
    bank.activate(model, "digits")
    out_digits = model(x)
    bank.activate(model, "faces")
    out_faces = model(x)
    assert not torch.allclose(out_digits, out_faces)
    bank.activate(model, "digits")
    assert torch.allclose(model(x), out_digits)
    bank.deactivate(model)
    assert torch.allclose(model(x), dense_out)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_a_bank_entry_must_match_the_others():
    bank = MaskBank({"a": random_mask({"w": (3, 3)}, 0.5, 0)})
    with pytest.raises(ValueError, match="shape"):
        bank.add("b", random_mask({"w": (3, 4)}, 0.5, 0))
    with pytest.raises(KeyError, match="no mask 'c'"):
        bank["c"]


def test_mask_bank_strategy_generates_with_a_named_mask(tmp_path):
    model = student()
    bank = _bank(model)
    bank.save(tmp_path / "bank.pt")
    strategy = get_plugins().create("strategy", "mask_bank", path=str(tmp_path / "bank.pt"), name="faces")
    strategy.attach(model)
    assert strategy.mask == bank["faces"] and list(strategy.trainable_parameters()) == []
    x = torch.randn(2, 8)
    faces = model(x)
    strategy.switch("digits")
    assert not torch.allclose(model(x), faces)
