"""What users would write without maskforge: the baselines ``bench/run.py`` measures alongside.

* :func:`attach_sorted_edge_popup` — edge-popup as in Ramanujan et al.'s code: a parametrization
  that sorts the layer's ``|scores|`` at every forward to build its top-k mask, with a
  straight-through gradient to the scores.
* :func:`attach_torch_prune` — ``torch.nn.utils.prune.custom_from_mask`` on every masked weight
  (``weight_orig * mask`` recomputed by a forward pre-hook at every forward).

They are benchmark baselines, not library code: no validation, no ties policy beyond the sort's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.utils.prune as tprune
from torch import nn
from torch.nn.utils import parametrize


class _SortedSubnet(torch.autograd.Function):
    """Ramanujan et al.'s GetSubnet: sort the scores, keep the top ``k``; straight-through."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, k: int) -> torch.Tensor:
        out = torch.zeros_like(scores)
        order = torch.sort(scores.reshape(-1)).indices
        out.reshape(-1)[order[scores.numel() - k:]] = 1.0
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class SortedScoreMask(nn.Module):
    """Parametrization ``w -> w * top_k(|scores|)``, the top-k found by a full sort each forward."""

    def __init__(self, shape: torch.Size, density: float, generator: torch.Generator):
        super().__init__()
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
        bound = 1.0 / math.sqrt(fan_in)
        self.scores = nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))
        self.k = max(1, round(density * math.prod(shape)))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * _SortedSubnet.apply(self.scores.abs(), self.k)


def attach_sorted_edge_popup(model: nn.Module, names: list[str], density: float, seed: int = 0) -> list[nn.Parameter]:
    """Freeze ``model`` and put a :class:`SortedScoreMask` on each named weight; returns the scores."""
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.requires_grad_(False)
    params = dict(model.named_parameters())
    scores = []
    for name in names:
        module_name, _, attr = name.rpartition(".")
        module = model.get_submodule(module_name)
        masker = SortedScoreMask(params[name].shape, density, gen).to(params[name].device)
        parametrize.register_parametrization(module, attr, masker)
        scores.append(masker.scores)
    return scores


def attach_torch_prune(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """``torch.nn.utils.prune.custom_from_mask`` on every masked parameter of ``model``.

    Spectral-normalised weights (``...parametrizations.weight.original``) are pruned on the
    parametrization's ``original``, so the normalisation sees ``original_orig * mask``.
    """
    for name, mask in masks.items():
        owner_name, _, attr = name.rpartition(".")
        owner = model.get_submodule(owner_name) if owner_name else model
        tprune.custom_from_mask(owner, attr, mask.to(next(model.parameters()).device))
