"""Hypothesis strategies for sparsity code: shapes, models, masks, densities, tied scores.

Tensors are generated from a drawn integer seed (not element by element), so examples stay
fast while hypothesis still shrinks the things that matter: shapes, densities and seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from hypothesis import strategies as st
from torch import nn

from maskforge.sparsity.mask import Mask
from maskforge.sparsity.protocols import SparsityContext

seeds = st.integers(min_value=0, max_value=2**31 - 1)


@st.composite
def layer_shapes(draw, max_dim: int = 12) -> tuple[int, ...]:
    """A parameter shape: a vector, a linear weight ``(out, in)`` or a conv weight ``(out, in, k, k)``."""
    kind = draw(st.sampled_from(["vector", "linear", "conv"]))
    dim = st.integers(1, max_dim)
    if kind == "vector":
        return (draw(dim),)
    if kind == "linear":
        return (draw(dim), draw(dim))
    k = draw(st.sampled_from([1, 3]))
    return (draw(st.integers(1, max_dim // 2 + 1)), draw(st.integers(1, max_dim // 2 + 1)), k, k)


@st.composite
def shape_maps(draw, min_layers: int = 1, max_layers: int = 5, max_dim: int = 12) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` for a few layers, named ``layers.0``, ``layers.1``, ... like :class:`ShapeModel`."""
    n = draw(st.integers(min_layers, max_layers))
    return {f"layers.{i}": draw(layer_shapes(max_dim=max_dim)) for i in range(n)}


def densities(min_value: float = 0.01, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """Densities in ``[min_value, max_value]`` (fraction kept), including the dense end."""
    return st.one_of(
        st.floats(min_value=min_value, max_value=max_value, allow_nan=False, exclude_min=False),
        st.sampled_from([v for v in (min_value, 0.05, 0.1, 0.5, max_value) if min_value <= v <= max_value]),
    )


def random_mask(shapes: Mapping[str, Sequence[int]], density: float, seed: int) -> Mask:
    """A mask whose entries are independently active with probability ``density``."""
    gen = torch.Generator().manual_seed(seed)
    return Mask({n: torch.rand(tuple(s), generator=gen) < density for n, s in shapes.items()})


@st.composite
def masks(draw, shapes: Mapping[str, Sequence[int]] | None = None, density: float | None = None) -> Mask:
    """A random mask over ``shapes`` (drawn if not given) at ``density`` (drawn if not given)."""
    shapes = shapes if shapes is not None else draw(shape_maps())
    density = density if density is not None else draw(st.floats(0.0, 1.0))
    return random_mask(shapes, density, draw(seeds))


def tied_tensor(shape: Sequence[int], levels: int, seed: int) -> torch.Tensor:
    """Float values drawn from only ``levels`` distinct numbers: ties everywhere."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, max(1, levels), tuple(shape), generator=gen).float() / max(1, levels)


@st.composite
def tied_scores(draw, shapes: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """Scores with many ties: each tensor takes values from 1 to 4 distinct levels."""
    levels = draw(st.integers(1, 4))
    seed = draw(seeds)
    return {n: tied_tensor(s, levels, seed + i) for i, (n, s) in enumerate(shapes.items())}


class ShapeModel(nn.Module):
    """A model whose only content is parameters of given shapes, named ``layers.i`` in order."""

    def __init__(self, shapes: Mapping[str, Sequence[int]], seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ParameterList([nn.Parameter(torch.randn(tuple(s), generator=gen)) for s in shapes.values()])

    def forward(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """A scalar that depends on every parameter (so backward gives dense gradients)."""
        return sum(((p * (i + 1)).sin() * p).sum() for i, p in enumerate(self.layers))


@st.composite
def shape_models(draw, min_layers: int = 1, max_layers: int = 5) -> ShapeModel:
    """A :class:`ShapeModel` with random layer shapes (parameter names ``layers.i``)."""
    shapes = draw(shape_maps(min_layers, max_layers))
    return ShapeModel(shapes, draw(seeds))


@st.composite
def layer_models(draw) -> nn.Module:
    """A real ``nn.Sequential`` of random conv / transposed conv / linear layers with norms.

    The input is ``(batch, channels, 4, 4)``; layers keep the spatial size so any order works.
    """
    channels = draw(st.integers(1, 6))
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "convT", "norm"]))
        out = draw(st.integers(1, 6))
        if kind == "conv":
            layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=draw(st.booleans())))
            channels = out
        elif kind == "convT":
            layers.append(nn.ConvTranspose2d(channels, out, 3, padding=1, bias=draw(st.booleans())))
            channels = out
        else:
            layers.append(nn.BatchNorm2d(channels))
    layers += [nn.Flatten(), nn.Linear(channels * 16, draw(st.integers(1, 5)))]
    torch.manual_seed(draw(seeds))
    return nn.Sequential(*layers)


def make_context(
    shapes: Mapping[str, Sequence[int]],
    *,
    density: float = 0.5,
    seed: int = 0,
    levels: int = 3,
) -> SparsityContext:
    """A context with tied weights, tied dense gradients, a random mask and an Adam state."""
    model = ShapeModel(shapes, seed)
    names = list(shapes)
    params = dict(zip(names, model.layers))
    with torch.no_grad():
        for i, p in enumerate(params.values()):
            p.copy_(tied_tensor(p.shape, levels, seed + 1000 + i) - 0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model().backward()
    optimizer.step()
    for i, p in enumerate(params.values()):
        p.grad = tied_tensor(p.shape, levels, seed + 2000 + i)
    mask = random_mask(shapes, density, seed + 3000)
    return SparsityContext(
        params=params, mask=mask, optimizer=optimizer, step=1,
        generator=torch.Generator().manual_seed(seed), network="test",
    )
