"""Which parameters get masks."""

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from maskforge import ParamFilter


def _net():
    return nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 8), nn.BatchNorm1d(8),
                         nn.Conv1d(8, 8, 3), nn.ConvTranspose1d(8, 4, 3), nn.Linear(4, 2))


def test_default_sparsifies_conv_linear_embedding_weights_only():
    assert ParamFilter().names(_net()) == ["0.weight", "1.weight", "3.weight", "4.weight", "5.weight"]


def test_first_and_last_layers_can_stay_dense():
    assert ParamFilter(dense_first=True, dense_last=True).names(_net()) == ["1.weight", "3.weight", "4.weight"]


def test_include_and_exclude_patterns():
    names = ParamFilter(include=["*.bias"], exclude=["3.*"]).names(_net())
    assert "1.bias" in names and "3.weight" not in names and "3.bias" not in names


def test_spectral_norm_weights_are_found_under_their_parametrization():
    model = nn.Sequential(spectral_norm(nn.Linear(4, 4)))
    assert ParamFilter().names(model) == ["0.parametrizations.weight.original"]


def test_layer_kinds_choose_which_weights_a_strategy_sparsifies():
    import pytest
    import torch
    from torch import nn

    from maskforge.plugin_system.manager import get_plugins

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 4), nn.Embedding(5, 4))
    conv_only = get_plugins().create("strategy", "static", density=0.5, layer_kinds=["conv"])
    conv_only.attach(model, generator=torch.Generator().manual_seed(0))
    assert conv_only.mask.names == ["0.weight"]
    every = get_plugins().create("strategy", "static", density=0.5)
    every.attach(model, generator=torch.Generator().manual_seed(0))
    assert every.mask.names == ["0.weight", "2.weight", "3.weight"]
    with pytest.raises(ValueError, match="layer_kinds must name some of conv, linear, embedding"):
        get_plugins().create("strategy", "static", layer_kinds=["attention"])
