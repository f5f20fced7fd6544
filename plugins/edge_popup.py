"""``edge_popup``: strong lottery tickets by learned scores (Ramanujan et al.; SLT paper).

Every sparsified weight gets a score; at every forward the mask keeps the entries with the top
``|score|`` — ``density`` (k) of each layer with ``allocator="uniform"`` (vanilla EP), or of all
layers together with ``allocator="global"`` (global EP, exact count at every forward). Gradients
reach the scores through a straight-through estimator (SLT eq. 4); the weights are frozen and
never change (all parameters are frozen, batch-norm ones included, as in the SLT paper).

Options (besides :class:`~maskforge.strategy.masked.MaskedStrategy`'s ``density``, ``allocator``,
``dense_first``/``dense_last`` = layer freeze, ``exclude``, ``power_scale``, ``overrides``):
    weight_init: ``signed_constant`` (±σ_k, SLT's U_k), ``kaiming_normal`` (N_k) or ``keep``
        (prune a pretrained model: load its weights before ``attach``).
    scale_fan: multiply the fan by the density in the weight init (Ramanujan's scaled variant).
    score_init: ``kaiming_uniform`` (Ramanujan's default), ``magnitude`` (|w|, for pretrained
        models) or ``uniform`` (U[0, 1)).
    score_biases: also learn scores for the biases of the masked layers.
    gradual_steps: move from dense to the target density over this many steps with Zhu &
        Gupta's cubic schedule (0 = the target from the first step).
    finetune_steps: steps of weight fine-tuning of the surviving weights after the search
        (SLT Experiment 3): a second round of that many steps, begun by
        :meth:`EdgePopup.start_finetune` at the end of the first (``maskforge run`` binds a
        fresh optimizer over the weights then, like every new round).
"""

from __future__ import annotations

import math

import attrs
import torch
from torch import nn

from maskforge.sparsity.allocation import Allocation
from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.param_filter import ParamFilter
from maskforge.sparsity.schedules import CubicGradual
from maskforge.sparsity.score_masking import ScoreTopK, attach_score_masks, bake_score_masks
from maskforge.strategy.masked import MaskedStrategy, _density

from .weight_init import WEIGHT_INITS, fan_in, init_weight

SCORE_INITS = ("kaiming_uniform", "magnitude", "uniform")


@attrs.define(kw_only=True)
class EdgePopup(MaskedStrategy):
    """Edge-popup score search over frozen weights."""

    density: float = attrs.field(default=0.1, validator=_density)
    allocator: str = "uniform"
    weight_init: str = attrs.field(default="signed_constant", validator=attrs.validators.in_(WEIGHT_INITS))
    scale_fan: bool = False
    score_init: str = attrs.field(default="kaiming_uniform", validator=attrs.validators.in_(SCORE_INITS))
    score_biases: bool = False
    gradual_steps: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    finetune_steps: int = attrs.field(default=0, validator=attrs.validators.ge(0))

    selector: ScoreTopK | None = attrs.field(default=None, init=False, repr=False)
    phase: str = attrs.field(default="search", init=False)
    _allocation: Allocation | None = attrs.field(default=None, init=False, repr=False)
    _count_step: int = attrs.field(default=1, init=False, repr=False)

    def __attrs_post_init__(self):
        self.rounds = 2 if self.finetune_steps else 1  # the search, then the fine-tuning

    def round_steps(self, round_index: int, steps: int) -> int:
        return self.finetune_steps if round_index == 1 else steps

    def end_round(self, round_index: int) -> None:
        if round_index == 0 and self.finetune_steps and self.phase == "search":
            self.start_finetune()  # the trainer then binds a fresh optimizer over the weights

    def param_filter(self) -> ParamFilter:
        base = super().param_filter()
        if not self.score_biases:
            return base
        return attrs.evolve(base, include=base.include + ("*.bias",))

    def attach(self, model: nn.Module, **kwargs) -> None:
        self._set_context(model, **kwargs)
        self._allocation = self.allocation_for(model)
        params = dict(model.named_parameters())
        names = list(self._allocation.counts)
        with torch.no_grad():
            for name in names:
                self._init_weight(params[name])
        for p in model.parameters():
            p.requires_grad_(False)
        scores = {n: self._init_scores(params[n]) for n in names}
        self.selector = attach_score_masks(model, scores, self._count_at(1))

    def _init_weight(self, weight: torch.Tensor) -> None:
        init_weight(weight, self.weight_init, self.generator, self.density if self.scale_fan else 1.0)

    def _init_scores(self, weight: torch.Tensor) -> torch.Tensor:
        if self.score_init == "magnitude":
            return weight.detach().abs().clone()
        scores = torch.empty(weight.shape)
        if self.score_init == "uniform":
            scores.uniform_(0.0, 1.0, generator=self.generator)
        else:  # kaiming_uniform with a = sqrt(5), torch's default layer init
            fan = fan_in(weight) if weight.dim() > 1 else max(1, weight.numel())
            bound = 1.0 / math.sqrt(fan)
            scores.uniform_(-bound, bound, generator=self.generator)
        return scores.to(weight.device)

    def _count_at(self, step: int):
        """Entries kept at ``step``: the allocation, or a cubic ramp from dense to it."""
        alloc = self._allocation
        if self.gradual_steps <= 0 or step > self.gradual_steps:
            return alloc.total if alloc.pooled else dict(alloc.counts)
        fraction = CubicGradual(initial=1.0, final=0.0, t_start=0, t_end=self.gradual_steps)(step)
        numel = {n: p.numel() for n, p in self.selector.scores.items()} if self.selector else {
            n: dict(self.model.named_parameters())[n].numel() for n in alloc.counts}
        if alloc.pooled:
            total = sum(numel.values())
            return round(alloc.total + fraction * (total - alloc.total))
        return {n: round(c + fraction * (numel[n] - c)) for n, c in alloc.counts.items()}

    # -- the trainer's calls ----------------------------------------------------------------------

    def trainable_parameters(self):
        if self.phase == "search":
            return list(self.selector.scores.values())
        return super().trainable_parameters()

    def bind(self, optimizer) -> None:
        if self.phase == "search":
            self.engine = None  # weights are frozen: the forward-time mask is all there is
            return
        super().bind(optimizer)

    def after_step(self, step: int) -> None:
        if self.phase == "search" and self.gradual_steps:
            self.selector.set_count(self._count_at(step + 1))
            self._count_step = step + 1

    def current_mask(self) -> Mask:
        if self.phase == "search":
            if self.selector is None:
                raise RuntimeError("edge_popup is not attached to a model yet; call attach(model) first")
            return self.selector.bool_masks()
        return super().current_mask()

    def start_finetune(self) -> list[nn.Parameter]:
        """End the score search: bake ``weight * mask`` into plain weights, unfreeze them and keep
        the mask fixed (SLT Experiment 3). Returns the parameters to fine-tune; call ``bind``
        with a new optimizer over them."""
        if self.phase != "search":
            raise RuntimeError("edge_popup fine-tuning has already started")
        mask = self.current_mask()
        bake_score_masks(self.model, mask.names)
        self.phase = "finetune"
        self._initial_mask = mask
        for p in self.model.parameters():
            p.requires_grad_(True)
        return self.trainable_parameters()

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["phase"] = self.phase
        if self.phase == "search":
            state["scores"] = {n: s.detach().clone() for n, s in self.selector.scores.items()}
            state["count_step"] = self._count_step  # where the gradual schedule stands
        return state

    def load_state_dict(self, state) -> None:
        if state.get("phase", "search") == "search":
            with torch.no_grad():
                for n, s in state["scores"].items():
                    self.selector.scores[n].copy_(s)
            self._count_step = int(state.get("count_step", 1))
            self.selector.set_count(self._count_at(self._count_step))
            return
        if self.phase == "search":
            self.start_finetune()
        super().load_state_dict(state)


def edge_popup(**options) -> EdgePopup:
    """Edge-popup: keep the top-|score| k of each layer (or globally); weights frozen."""
    return EdgePopup(**options)


@hookimpl
def maskforge_register(registry):
    registry.register("strategy", "edge_popup", edge_popup)
