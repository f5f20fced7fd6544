"""FLOPs accounting: per-layer forward FLOPs scaled by density, testing and training FLOPs.

Per-layer forward FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on one
single-image forward in eval mode (matmuls and convolutions; a multiply-add counts 2). A
layer's sparse cost is its dense cost times the density of its weight mask (unstructured
sparsity, as in STU-GAN section 5.3); layers without a mask count dense.

Training FLOPs of a GAN run (per generator step, batch ``B_G`` for G, ``B_D`` for D, ``n_D``
discriminator steps; ``f`` = forward FLOPs per image at the current densities):

* each D step: G forward for the fakes (``B_D f_G``) + D forward and backward (weights and
  inputs: 3x forward) on real and fake batches (``2 B_D · 3 f_D``);
* the G step: G forward and backward (``3 B_G f_G``) + D forward and input-gradient backward
  with D frozen (``2 B_G f_D``);
* dynamic sparse training adds, on each update step, the dense gradient of G's inactive
  weights (``(1 - d_G) B_G f_G^dense``), RigL's accounting;
* multi-round strategies (IMP) sum their rounds at each round's G density, D at its own
  density every round. (STU-GAN Table 2's GAN-ticket figures, 4.57x and 4.16x, are exactly
  sum(0.8**r): the paper scales the whole GAN's cost by G's density; with D dense, as in the
  ``imp_sngan`` recipe, this accounting gives more.)
* prune-and-finetune (a strategy that prunes by magnitude at ``attach``) adds the dense
  pre-training run: Table 2 counts "the overall FLOPs to obtain the final sparse generator".

Ratios are normalised by the same run at density 1 everywhere (the dense GAN), which is how
STU-GAN Table 2 reports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from maskforge.sparsity.mask import Mask

_SUFFIXES = (".parametrizations.weight.original", ".weight_orig", ".weight")


def _module_of(param_name: str) -> str | None:
    for suffix in _SUFFIXES:
        if param_name.endswith(suffix):
            return param_name[: -len(suffix)]
    return None


@torch.no_grad()
def layer_flops(model: nn.Module, inputs: tuple) -> dict[str, int]:
    """Forward FLOPs per module (fully qualified name) for ``model(*inputs)``: each module's own
    FLOPs, not counting those of the submodules it calls (modules whose work is all in their
    submodules are left out)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(*inputs)
    model.train(was_training)
    root = type(model).__name__
    per_module = {}
    for name, ops in counter.get_flop_counts().items():
        if name in ("Global", root):
            continue
        per_module[name.removeprefix(root + ".")] = sum(ops.values())
    # Parametrizations (spectral norm's u.Wv, score masks) belong to the layer that owns them.
    per_module = {n: f for n, f in per_module.items() if ".parametrizations" not in n and not n.startswith("parametrizations")}
    # The counter aggregates into every calling ancestor: a module's own FLOPs are its count less
    # its nearest counted descendants' (nonzero for layers that compute in their own forward, such
    # as self-attention's two batched matmuls around its convolutions).
    own = {}
    for name, flops in per_module.items():
        below = [other for other in per_module if other.startswith(name + ".")]
        nearest = [other for other in below if not any(mid != other and other.startswith(mid + ".") for mid in below)]
        rest = int(flops) - sum(int(per_module[other]) for other in nearest)
        if rest > 0 or not below:
            own[name] = rest if below else int(flops)
    return own


@attrs.frozen
class LayerCost:
    """Forward cost of one layer for one image."""

    module: str
    param: str | None
    shape: tuple[int, ...]
    density: float
    nnz: int
    dense_flops: int

    @property
    def sparse_flops(self) -> float:
        return self.dense_flops * self.density


def layer_costs(model: nn.Module, inputs: tuple, mask: Mask | None) -> list[LayerCost]:
    """Per-layer dense and sparse forward FLOPs for one image (``inputs`` has batch size 1)."""
    flops = layer_flops(model, inputs)
    params = dict(model.named_parameters())
    masked = {}
    if mask is not None:
        for name in mask:
            module = _module_of(name)
            if module is not None:
                masked[module.removeprefix("_orig_mod.")] = name
    costs = []
    for module, f in flops.items():
        pname = masked.get(module)
        if pname is None:
            candidates = [module + s for s in _SUFFIXES if module + s in params]
            pname_dense = candidates[0] if candidates else None
            shape = tuple(params[pname_dense].shape) if pname_dense else ()
            costs.append(LayerCost(module, pname_dense, shape, 1.0, math.prod(shape) if shape else 0, f))
        else:
            m = mask[pname]
            nnz = int(m.sum())
            costs.append(LayerCost(module, pname, tuple(m.shape), nnz / m.numel(), nnz, f))
    return costs


def example_inputs(model: nn.Module, kind: str) -> tuple:
    """Single-image inputs for a generator (``kind="G"``) or discriminator (``"D"``)."""
    device = next(model.parameters()).device
    y = torch.zeros(1, dtype=torch.long, device=device) if getattr(model, "n_classes", 0) else None
    if kind == "G":
        return (torch.zeros(1, model.dim_z, device=device), y)
    return (torch.zeros(1, model.channels, model.resolution, model.resolution, device=device), y)


def total(costs: list[LayerCost], sparse: bool = True) -> float:
    return sum(c.sparse_flops if sparse else c.dense_flops for c in costs)


@attrs.frozen
class GANCost:
    """Per-image forward FLOPs of G and D, dense and at the run's densities."""

    g_dense: float
    g_sparse: float
    d_dense: float
    d_sparse: float


def gan_training_flops(cost: GANCost, *, steps: int, batch_g: int, batch_d: int, d_steps: int,
                       g_density_rounds: list[float] | None = None, update_every: int | None = None,
                       dense: bool = False) -> float:
    """Total training FLOPs of a GAN run (see the module docstring for the accounting)."""
    f_d = cost.d_dense if dense else cost.d_sparse
    g_now_density = cost.g_sparse / cost.g_dense if cost.g_dense else 1.0
    if dense:
        per_round_g = [cost.g_dense]
    elif g_density_rounds:  # IMP: FLOPs scale with each round's density
        per_round_g = [cost.g_dense * d for d in g_density_rounds]
    else:
        per_round_g = [cost.g_sparse]
    total_flops = 0.0
    for f_g in per_round_g:
        per_step = d_steps * (batch_d * f_g + 2 * batch_d * 3 * f_d) + 3 * batch_g * f_g + 2 * batch_g * f_d
        total_flops += steps * per_step
    if not dense and update_every:
        updates = steps // update_every
        total_flops += updates * (1.0 - g_now_density) * batch_g * cost.g_dense
    return total_flops


def strategy_rounds(strategy: object) -> list[float] | None:
    """Per-round G densities of a multi-round strategy (IMP), else None."""
    if type(strategy).__name__ != "IterativeMagnitudePruning":
        return None
    p, rounds = strategy.prune_fraction, strategy.pruning_rounds
    start = strategy.density
    return [start * (1 - p) ** r for r in range(rounds + 1)]


def costs_by_network(models: Mapping[str, tuple[nn.Module, Mask | None]]) -> dict[str, list[LayerCost]]:
    """Layer costs of each named network (``{"G": (G, mask), "D": (D, mask)}``)."""
    return {name: layer_costs(model, example_inputs(model, name), mask) for name, (model, mask) in models.items()}
