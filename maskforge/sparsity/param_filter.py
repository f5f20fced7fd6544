"""Which parameters are sparsified.

The default :class:`ParamFilter` picks the ``weight`` of every convolution, transposed
convolution, linear and embedding layer; biases, normalisation parameters and everything else
stay dense. A recipe can add or remove names (glob patterns on fully qualified names), keep the
first and/or last sparsifiable layer dense, or widen the set of layer types.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

import attrs
from torch import nn

DEFAULT_LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
    nn.Embedding,
)


#: Layer kinds a recipe can name (``layer_kinds`` of a strategy) and the module types of each.
LAYER_KINDS: dict[str, tuple[type[nn.Module], ...]] = {
    "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d),
    "linear": (nn.Linear,),
    "embedding": (nn.Embedding,),
}


def layer_types(kinds: Iterable[str]) -> tuple[type[nn.Module], ...]:
    """The module types of the named layer kinds (``conv``, ``linear``, ``embedding``)."""
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in LAYER_KINDS]
    if unknown or not kinds:
        raise ValueError(f"layer_kinds must name some of {', '.join(LAYER_KINDS)}, got {list(kinds)}")
    return tuple(t for k in kinds for t in LAYER_KINDS[k])


@attrs.frozen
class ParamFilter:
    """Decides which parameters of a model get a mask.

    Attributes:
        layer_types: module types whose ``weight`` is sparsified.
        include: extra glob patterns of parameter names to sparsify (any parameter).
        exclude: glob patterns of parameter names to keep dense (wins over everything).
        dense_first: keep the first sparsifiable layer (in registration order) dense.
        dense_last: keep the last sparsifiable layer dense.
    """

    layer_types: tuple[type[nn.Module], ...] = DEFAULT_LAYER_TYPES
    include: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    exclude: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    dense_first: bool = False
    dense_last: bool = False

    def names(self, model: nn.Module) -> list[str]:
        """Fully qualified names of the sparsified parameters, in registration order."""
        params = dict(model.named_parameters())
        chosen: list[str] = []
        for module_name, module in model.named_modules():
            if not isinstance(module, self.layer_types):
                continue
            prefix = f"{module_name}." if module_name else ""
            # Spectral norm keeps the trainable weight as `weight_orig` (old API) or
            # `parametrizations.weight.original` (torch.nn.utils.parametrizations).
            for suffix in ("weight", "weight_orig", "parametrizations.weight.original"):
                if prefix + suffix in params and prefix + suffix not in chosen:
                    chosen.append(prefix + suffix)
                    break
        if self.dense_first and chosen:
            chosen = chosen[1:]
        if self.dense_last and chosen:
            chosen = chosen[:-1]
        for name in params:
            if name not in chosen and any(fnmatch.fnmatchcase(name, pat) for pat in self.include):
                chosen.append(name)
        order = {n: i for i, n in enumerate(params)}
        chosen = [n for n in chosen if not any(fnmatch.fnmatchcase(n, pat) for pat in self.exclude)]
        return sorted(chosen, key=order.__getitem__)

    def shapes(self, model: nn.Module) -> dict[str, tuple[int, ...]]:
        """``{name: shape}`` of the sparsified parameters."""
        params = dict(model.named_parameters())
        return {n: tuple(params[n].shape) for n in self.names(model)}


def select_names(model: nn.Module, patterns: Iterable[str]) -> list[str]:
    """Parameter names of ``model`` matching any of the glob ``patterns``."""
    pats = tuple(patterns)
    return [n for n, _ in model.named_parameters() if any(fnmatch.fnmatchcase(n, p) for p in pats)]
