"""The Strategy protocol: how one network's mask is made and how it evolves over a run.

A trainer drives every strategy the same way, once per network (G and D each get their own)::

    strategy.attach(model, network="G", generator=gen, total_steps=T)   # build the mask
    optimizer = Adam(strategy.trainable_parameters())                    # weights, or scores
    strategy.bind(optimizer)
    for round in range(strategy.rounds):                                 # IMP: several rounds
        for step in 1..strategy.round_steps(round, T):                   # steps of THIS network
            loss.backward()                      # (train.accumulate: k backwards, mean gradient)
            stats = strategy.before_step(step)   # after backward, before optimizer.step()
            optimizer.step()
            stats = strategy.after_step(step)    # after optimizer.step() (STU-GAN's updates)
        strategy.end_round(round)                                        # then a new optimizer, bound

:class:`MaskedStrategy` implements the common part — allocate a density over the sparsified
parameters, choose the initial entries by a score, bind a :class:`~maskforge.sparsity.engine.SparseEngine`
— and is itself the *static* strategy. Plugins subclass it and override one or two hooks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import torch
from torch import nn

from maskforge.plugin_system.manager import Plugins, get_plugins
from maskforge.sparsity.allocation import Allocation, check_density
from maskforge.sparsity.engine import MaskUpdateStats, SparseEngine
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.param_filter import ParamFilter, layer_types
from maskforge.sparsity.sparsify import allocate, init_mask


def _density(instance, attribute, value):
    check_density(value, f"{type(instance).__name__}.{attribute.name}")


def _layer_kinds(instance, attribute, value):
    layer_types(value)  # raises, naming the kinds there are


def _fraction(instance, attribute, value):
    if isinstance(value, bool) or not (0.0 <= float(value) < 1.0):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be in [0, 1) (share of active weights "
            f"removed), got {value!r}"
        )


@attrs.define(kw_only=True)
class MaskedStrategy:
    """A fixed sparse mask from an allocator; the *static* sparse-training baseline.

    Options (all recipe fields):
        density: fraction of the sparsified weights kept, in (0, 1].
        allocator: registered allocator name: ``uniform``, ``er``, ``erk`` or ``global``.
        power_scale: ER/ERK exponent (1 = as published).
        overrides: per-parameter densities (``{"linear.weight": 1.0}``).
        dense_first / dense_last: keep the first / last sparsifiable layer dense.
        layer_kinds: which layers' weights are sparsified: some of ``conv``, ``linear``,
            ``embedding`` (all three by default; the STU-GAN authors' code masks conv
            kernels only, which the paper's recipes follow).
        include: glob patterns of extra parameter names to sparsify (any parameter).
        exclude: glob patterns of parameter names kept dense.
        init_score: how initial entries are chosen: ``random`` (from scratch) or
            ``magnitude`` (prune a trained model).
        train_weights: False freezes every weight (evaluate a fixed subnetwork, e.g. the SLT
            paper's random-pruning baseline).
    """

    density: float = attrs.field(default=1.0, validator=_density)
    allocator: str = "erk"
    power_scale: float = 1.0
    overrides: dict[str, float] = attrs.field(factory=dict)
    dense_first: bool = False
    dense_last: bool = False
    layer_kinds: tuple[str, ...] = attrs.field(default=("conv", "linear", "embedding"), converter=tuple, validator=_layer_kinds)
    include: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    exclude: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    init_score: str = "random"
    train_weights: bool = True

    rounds: int = attrs.field(default=1, init=False)
    model: nn.Module | None = attrs.field(default=None, init=False, repr=False)
    engine: SparseEngine | None = attrs.field(default=None, init=False, repr=False)
    network: str = attrs.field(default="model", init=False)
    generator: torch.Generator | None = attrs.field(default=None, init=False, repr=False)
    total_steps: int = attrs.field(default=0, init=False)
    plugins: Plugins | None = attrs.field(default=None, init=False, repr=False)
    _initial_mask: Mask | None = attrs.field(default=None, init=False, repr=False)
    _pending_ever_active: Mask | None = attrs.field(default=None, init=False, repr=False)

    # -- lifecycle ------------------------------------------------------------------------------

    def param_filter(self) -> ParamFilter:
        """Which parameters this strategy sparsifies."""
        return ParamFilter(layer_types=layer_types(self.layer_kinds), dense_first=self.dense_first,
                           dense_last=self.dense_last, include=self.include, exclude=self.exclude)

    def attach(
        self,
        model: nn.Module,
        *,
        network: str = "model",
        generator: torch.Generator | None = None,
        total_steps: int = 0,
        plugins: Plugins | None = None,
    ) -> None:
        """Build the initial mask for ``model`` and zero its inactive weights."""
        self._set_context(model, network=network, generator=generator, total_steps=total_steps, plugins=plugins)
        self._initial_mask = self.build_mask(model)
        self._initial_mask.apply_(model)
        if not self.train_weights:
            model.requires_grad_(False)

    def _set_context(self, model, *, network="model", generator=None, total_steps=0, plugins=None) -> None:
        self.model, self.network, self.total_steps = model, network, int(total_steps)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.plugins = plugins or get_plugins()

    def allocation_for(self, model: nn.Module) -> Allocation:
        """How many entries of each sparsified parameter are kept (``allocator``, ``density``)."""
        allocator = self.plugins.create("allocator", self.allocator)
        options: dict[str, Any] = {}
        if self.allocator in ("er", "erk"):
            options["power_scale"] = self.power_scale
        if self.overrides and self.allocator != "global":
            options["overrides"] = dict(self.overrides)
        return allocate(model, self.density, allocator, self.param_filter(), **options)

    def build_mask(self, model: nn.Module) -> Mask:
        """The initial mask: allocation by ``allocator``, entries chosen by ``init_score``."""
        score = self.plugins.create("score", self.init_score)
        return init_mask(model, self.allocation_for(model), score=score, generator=self.generator)

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        """What the optimizer trains (the weights; edge-popup returns its scores)."""
        return [p for p in self._require_model().parameters() if p.requires_grad]

    def bind(self, optimizer: torch.optim.Optimizer | None) -> None:
        """Bind the mask to the optimizer (engine hooks on ``optimizer.step()``)."""
        optimizer = optimizer if self.train_weights else None  # frozen weights: nothing to hook
        self.engine = SparseEngine(self._require_model(), self.current_mask(), optimizer, network=self.network)
        if self._pending_ever_active is not None:  # restored from a checkpoint before binding
            self.engine.ever_active = self._pending_ever_active.to(next(iter(self.engine.mask.values())).device) | self.engine.mask
            self._pending_ever_active = None

    def before_step(self, step: int) -> MaskUpdateStats | None:
        """After backward, before ``optimizer.step()`` of this network's step ``step``; returns
        the statistics of a mask update made here, if any."""
        return None

    def after_step(self, step: int) -> MaskUpdateStats | None:
        """After ``optimizer.step()``; returns the statistics of a mask update made here, if any."""
        return None

    def end_round(self, round_index: int) -> None:
        """After the last step of a round (multi-round strategies only)."""

    def round_steps(self, round_index: int, steps: int) -> int:
        """Steps of round ``round_index`` when a recipe's round is ``steps`` long (a strategy
        whose rounds differ in length, e.g. a search then a fine-tuning, says so here)."""
        return steps

    # -- state ----------------------------------------------------------------------------------

    def current_mask(self) -> Mask:
        """The mask in force now."""
        if self.engine is not None:
            return self.engine.mask
        if self._initial_mask is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a model yet; call attach(model) first")
        return self._initial_mask

    @property
    def mask(self) -> Mask:
        return self.current_mask()

    @property
    def exploration_rate(self) -> float:
        """Share of sparsified entries ever active (equals the density for a static mask)."""
        return self.engine.exploration_rate if self.engine is not None else self.current_mask().total_density

    def state_dict(self) -> dict:
        """The mask (bit-packed) and the set of entries ever active."""
        state = {"mask": self.current_mask().state_dict()}
        if self.engine is not None:
            state["ever_active"] = self.engine.ever_active.state_dict()
        return state

    def load_state_dict(self, state: Mapping) -> None:
        """Restore the mask saved by :meth:`state_dict` (after ``attach`` and ``bind``)."""
        mask = Mask.from_state_dict(state["mask"])
        if self.engine is None:
            self._initial_mask = mask
            mask.apply_(self._require_model())
            if "ever_active" in state:
                self._pending_ever_active = Mask.from_state_dict(state["ever_active"])
            return
        self.engine.set_mask(mask, component=f"{type(self).__name__}.load_state_dict", zero_grown=False)
        if "ever_active" in state:
            self.engine.ever_active = Mask.from_state_dict(state["ever_active"]).to(next(iter(mask.values())).device)

    def _require_model(self) -> nn.Module:
        if self.model is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a model yet; call attach(model) first")
        return self.model
