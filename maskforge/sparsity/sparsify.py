"""From a model and a target density to an initial mask.

    allocation = allocate(model, 0.1, erdos_renyi_kernel)          # who gets how many entries
    mask = init_mask(model, allocation, generator=torch.Generator().manual_seed(0))

:func:`init_mask` keeps exactly ``allocation.counts[name]`` entries per parameter (or
``allocation.total`` globally when the allocation is pooled), chosen by a score: random by
default (sparse training from scratch), magnitude for pruning a trained model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from maskforge.sparsity.allocation import Allocation
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.param_filter import ParamFilter
from maskforge.sparsity.protocols import Score, SparsityContext
from maskforge.sparsity.scores import RandomScore
from maskforge.sparsity.selection import select_count


def allocate(
    model: nn.Module,
    density: float,
    allocator: Callable[..., Allocation],
    param_filter: ParamFilter | None = None,
    **options,
) -> Allocation:
    """Run ``allocator`` over the shapes of the parameters ``param_filter`` selects."""
    shapes = (param_filter or ParamFilter()).shapes(model)
    if not shapes:
        raise ValueError(
            f"no parameter of {type(model).__name__} is sparsified by the parameter filter; "
            "check ParamFilter.layer_types / include / exclude"
        )
    return allocator(shapes, density, **options)


def init_mask(
    model: nn.Module,
    allocation: Allocation,
    *,
    score: Score | None = None,
    generator: torch.Generator | None = None,
) -> Mask:
    """A mask with exactly the allocated number of active entries, chosen by ``score``."""
    params = dict(model.named_parameters())
    unknown = [n for n in allocation.counts if n not in params]
    if unknown:
        raise ValueError(f"allocation names parameters the model lacks: {unknown[:3]}")
    chosen = {n: params[n] for n in allocation.counts}
    everything = Mask({n: torch.ones(p.shape, dtype=torch.bool, device=p.device) for n, p in chosen.items()})
    ctx = SparsityContext(params=chosen, mask=everything, generator=generator, network="init")
    scores = (score or RandomScore())(ctx)
    count = allocation.total if allocation.pooled else allocation.counts
    return Mask(select_count(scores, count, largest=True))
