"""Forward-time masks from learned scores (edge-popup's supermasks), with a straight-through
estimator. The one place in maskforge where a mask is applied in the forward pass.

:class:`ScoreTopK` owns one score tensor per masked parameter and decides, from the *current*
scores, which entries are kept: the top ``counts[name]`` of ``|score|`` in each tensor, or the
top ``count`` over all tensors together (global). Masks are recomputed lazily whenever any score
tensor changed (tracked by tensor version counters) — i.e. at the first forward after each
optimizer step — so every forward uses masks of the scores it sees, and a global selection keeps
exactly ``count`` entries at every forward (no one-step-late threshold).

:func:`attach_score_masks` installs a :class:`ScoredWeight` parametrization on each parameter:
``weight = original * mask(scores)`` in the forward; in the backward the gradient flows to the
scores straight through the top-k (``dL/ds = sign(s) * dL/dw_eff * w``, eq. 4 of the SLT paper) and not to the frozen original weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize

from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import Count
from maskforge.sparsity.selection import select_count


class _StraightThroughMask(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight, scores, mask)
        return weight * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weight, scores, mask = ctx.saved_tensors
        # The mask is a step function of |s|; pass the gradient straight through it (and |.|).
        grad_scores = grad * weight * torch.sign(scores) if ctx.needs_input_grad[1] else None
        grad_weight = grad * mask if ctx.needs_input_grad[0] else None
        return grad_weight, grad_scores, None


class ScoreTopK:
    """Current top-|score| masks for a set of named score tensors."""

    def __init__(self, scores: Mapping[str, torch.Tensor], count: Count):
        self.scores = dict(scores)
        self._count: Count = count
        self._key: tuple | None = None
        self._masks: dict[str, torch.Tensor] = {}

    @property
    def count(self) -> Count:
        return self._count

    def set_count(self, count: Count) -> None:
        """Change how many entries are kept (gradual pruning); takes effect at the next forward."""
        self._count = count
        self._key = None

    def _refresh(self) -> None:
        key = tuple(s._version for s in self.scores.values())
        if key == self._key:
            return
        with torch.no_grad():
            magnitudes = {n: s.detach().abs() for n, s in self.scores.items()}
            chosen = select_count(magnitudes, self._count, largest=True)
        self._masks = chosen
        self._key = key

    def bool_masks(self) -> Mask:
        """The masks in force (as a :class:`~maskforge.sparsity.mask.Mask`)."""
        self._refresh()
        return Mask(dict(self._masks))

    def float_mask(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        self._refresh()
        return self._masks[name].to(dtype)


class ScoredWeight(nn.Module):
    """Parametrization ``w -> w * mask(scores)`` with a straight-through gradient to ``scores``."""

    def __init__(self, name: str, scores: nn.Parameter, selector: ScoreTopK):
        super().__init__()
        self.name = name
        self.scores = scores
        object.__setattr__(self, "_selector", selector)  # not a submodule: shared by all layers

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return _StraightThroughMask.apply(weight, self.scores, self._selector.float_mask(self.name, weight.dtype))


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """Module and attribute that a parameter name refers to (spectral-norm names included)."""
    suffix = ".parametrizations.weight.original"
    if name.endswith(suffix) or name == suffix[1:]:
        path, attr = name[: -len(suffix)], "weight"
    else:
        path, _, attr = name.rpartition(".")
    return (model.get_submodule(path) if path else model), attr


def attach_score_masks(model: nn.Module, scores: Mapping[str, torch.Tensor], count: Count) -> ScoreTopK:
    """Install score masks on the named parameters of ``model``; returns the shared selector.

    ``scores`` gives the initial score tensor of each parameter (same shape); the parameters
    themselves are frozen (``requires_grad=False``) and never modified.
    """
    params = dict(model.named_parameters())
    score_params = {n: nn.Parameter(s.detach().clone().to(params[n].device)) for n, s in scores.items()}
    selector = ScoreTopK(score_params, count)
    for name, score in score_params.items():
        params[name].requires_grad_(False)
        module, attr = _owner(model, name)
        parametrize.register_parametrization(module, attr, ScoredWeight(name, score, selector))
    return selector


def bake_score_masks(model: nn.Module, names: list[str]) -> None:
    """Remove the score parametrizations, leaving ``weight = original * mask`` as plain tensors."""
    for name in names:
        module, attr = _owner(model, name)
        if parametrize.is_parametrized(module, attr):
            parametrize.remove_parametrizations(module, attr, leave_parametrized=True)
