"""The recipe schema: frozen attrs objects a recipe file combines into ``recipe = GANRecipe(...)``.

Every field can be overridden from the command line with ``--set path.to.field=value``
(:mod:`maskforge.runs.overrides`); the resolved recipe is written to the run directory as JSON and
stored in every checkpoint. Nothing here builds a model or touches data: that happens when the
run starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from maskforge.plugin_system.manager import Plugins, get_plugins
from maskforge.sparsity.schedules import CosineDecay


def _positive(instance, attribute, value):
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _non_negative(instance, attribute, value):
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _positive_number(instance, attribute, value):
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _betas(instance, attribute, value):
    if len(value) != 2 or not all(0.0 <= float(b) < 1.0 for b in value):
        raise ValueError(f"{attribute.name} must be two numbers in [0, 1) such as (0.0, 0.999), got {value!r}")


@attrs.frozen
class SparsitySpec:
    """One network's sparsity: a registered strategy name and its options."""

    strategy: str = "static"
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    def build(self, plugins: Plugins | None = None):
        """The strategy object, built through the registry (``UnknownComponentError`` if unknown)."""
        return (plugins or get_plugins()).create("strategy", self.strategy, **self.options)


@attrs.frozen
class DataSpec:
    """Training images: a registered dataset name and where it lives."""

    name: str = "digits"
    root: str = ""
    resolution: int = attrs.field(default=16, validator=_positive)
    channels: int = attrs.field(default=1, validator=_positive)
    download: bool = False


@attrs.frozen
class ModelSpec:
    """A registered model name and its constructor options (``width``, ``dim_z``, ...).

    ``resolution``, ``channels`` and (for conditional models, ``conditional=True``) ``n_classes``
    are filled in from the data unless given in ``options``.
    """

    name: str
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)
    conditional: bool = False


@attrs.frozen
class OptimizerSpec:
    """Adam(W) settings (``eps`` is Adam's denominator term: BigGAN's ImageNet runs use 1e-6), and
    the learning rate over a round of training.

    ``lr_schedule``: ``constant``, or ``cosine`` — ``lr_min + (lr - lr_min) * (1 + cos(pi * (t - 1) / T)) / 2``
    at step t of a round of T steps (``CosineAnnealingLR`` with ``T_max = T``, the SLT paper's
    "cosine annealing"), once per round and never periodic. The learning rate is a function of
    the step alone, so a resumed run follows it exactly.
    """

    lr: float = attrs.field(default=2e-4, validator=_positive_number)
    betas: tuple[float, float] = attrs.field(default=(0.0, 0.999), converter=tuple, validator=_betas)
    weight_decay: float = attrs.field(default=0.0, validator=_non_negative)
    eps: float = attrs.field(default=1e-8, validator=_positive_number)
    lr_schedule: str = attrs.field(default="constant", validator=attrs.validators.in_(("constant", "cosine")))
    lr_min: float = attrs.field(default=0.0, validator=_non_negative)

    def lr_at(self, step: int, steps: int) -> float:
        """The learning rate at ``step`` (1-based) of a round of ``steps`` steps."""
        if self.lr_schedule == "constant":
            return self.lr
        return CosineDecay(initial=self.lr, t_end=steps, final=self.lr_min)(step - 1)


@attrs.frozen
class LossSpec:
    """``hinge`` / ``non_saturating`` (adversarial) or ``mmd_vgg`` (moment matching).

    The VGG fields apply to ``mmd_vgg``: ``vgg`` is ``vgg19`` or ``vgg19_bn``; ``weights`` a local
    file path (or ``random`` for tests); ``n_relu`` feature layers; ``tracker`` ``adam`` (GFMN)
    or ``ema``; ``tracker_lr`` / ``tracker_beta1`` for the Adam moving averages.
    """

    name: str = "hinge"
    vgg: str = "vgg19"
    weights: str = ""
    allow_download: bool = False
    n_relu: int = attrs.field(default=16, validator=_positive)
    tracker: str = "adam"
    tracker_lr: float = 1e-5
    tracker_beta1: float = 0.5


@attrs.frozen
class AveragerSpec:
    """Weight averaging of G for sampling: ``none``, ``ema`` or ``sema`` (STU-GAN eq. 5)."""

    name: str = "none"
    beta: float = 0.999
    start_step: int = attrs.field(default=0, validator=_non_negative)


@attrs.frozen
class TrainSpec:
    """Loop settings. ``steps`` counts generator steps (per round); D takes ``d_steps`` per G step.

    ``accumulate``: micro-batches per optimizer step, G's and D's (BigGAN-PyTorch's
    ``num_G_accumulations`` / ``num_D_accumulations``): each draws its own ``batch_size`` (or
    ``d_batch_size``) samples and latents, the gradients are averaged, then the strategy and the
    optimizer step run once. Batch norm sees each micro-batch alone, as in the reference.

    ``on_nonfinite``: ``stop`` (default: stop naming the step and network, keeping the last good
    checkpoint) or ``skip`` (skip that network's update for the step). ``verify_masks``: in a
    multi-process run, check after every mask update that all ranks hold identical masks.
    """

    steps: int = attrs.field(default=1000, validator=_positive)
    batch_size: int = attrs.field(default=64, validator=_positive)
    d_batch_size: int | None = attrs.field(default=None, validator=_positive)
    d_steps: int = attrs.field(default=1, validator=_positive)
    accumulate: int = attrs.field(default=1, validator=_positive)
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    on_nonfinite: str = attrs.field(default="stop", validator=attrs.validators.in_(("stop", "skip")))
    verify_masks: bool = False


@attrs.frozen
class OutputSpec:
    """What a run writes and how often (in generator steps)."""

    log_every: int = attrs.field(default=50, validator=_positive)
    sample_every: int = attrs.field(default=500, validator=_positive)
    checkpoint_every: int = attrs.field(default=1000, validator=_positive)
    n_samples: int = attrs.field(default=64, validator=_positive)
    keep_checkpoints: int = attrs.field(default=3, validator=_positive)


@attrs.frozen
class GANRecipe:
    """A complete run: data, G (and D), loss, per-network sparsity, optimizers, averaging, loop.

    ``trainer`` is ``adversarial`` (G and D, ``d_steps`` D steps per G step) or
    ``moment_matching`` (G only, MMD on fixed features; with ``edge_popup`` only scores train).
    """

    name: str
    trainer: str = attrs.field(default="adversarial", validator=attrs.validators.in_(("adversarial", "moment_matching")))
    data: DataSpec = DataSpec()
    generator: ModelSpec = ModelSpec("dcgan_g")
    discriminator: ModelSpec | None = ModelSpec("dcgan_d")
    loss: LossSpec = LossSpec()
    g_sparsity: SparsitySpec = SparsitySpec("static", {"density": 1.0})
    d_sparsity: SparsitySpec = SparsitySpec("static", {"density": 1.0})
    g_optimizer: OptimizerSpec = OptimizerSpec()
    d_optimizer: OptimizerSpec = OptimizerSpec()
    averager: AveragerSpec = AveragerSpec()
    train: TrainSpec = TrainSpec()
    output: OutputSpec = OutputSpec()
    pretrained_g: str = ""
    pretrained_d: str = ""


def to_json(recipe: Any) -> dict:
    """A JSON-serialisable dict of a recipe (tuples become lists)."""
    return attrs.asdict(recipe, recurse=True, value_serializer=lambda inst, field, value: list(value) if isinstance(value, tuple) else value)
