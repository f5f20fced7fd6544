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
