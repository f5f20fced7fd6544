"""A minimal single-network training loop that drives any Strategy (the protocol in
:mod:`maskforge.strategy.masked`): attach, per-round optimizer, before/after step hooks, rounds.

Used by the quickstart and the strategy tests; the GAN trainers follow the same protocol with
one strategy per network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from maskforge.plugin_system.manager import Plugins, get_plugins


def train_single(
    model: nn.Module,
    strategy,
    loss_fn: Callable[[nn.Module, int], torch.Tensor],
    *,
    steps: int,
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
    network: str = "model",
    generator: torch.Generator | None = None,
    plugins: Plugins | None = None,
    attach: bool = True,
) -> list[float]:
    """Train ``model`` under ``strategy`` for ``strategy.rounds`` rounds of ``steps`` steps.

    ``loss_fn(model, step)`` returns the loss of one step. Returns the loss of every step.
    Mask updates are announced through the ``maskforge_mask_update`` hook, steps through
    ``maskforge_step_end``.
    """
    plugins = plugins or get_plugins()
    if attach:
        strategy.attach(model, network=network, generator=generator, total_steps=steps, plugins=plugins)
    losses: list[float] = []
    for round_index in range(strategy.rounds):
        optimizer = make_optimizer(strategy.trainable_parameters())
        strategy.bind(optimizer)
        for step in range(1, strategy.round_steps(round_index, steps) + 1):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, step)
            loss.backward()
            stats = strategy.before_step(step)
            if stats is not None:
                plugins.hook.maskforge_mask_update(stats=stats)
            optimizer.step()
            stats = strategy.after_step(step)
            if stats is not None:
                plugins.hook.maskforge_mask_update(stats=stats)
            losses.append(loss.item())
            plugins.hook.maskforge_step_end(step=step, metrics={"loss": losses[-1], "round": round_index})
        strategy.end_round(round_index)
    return losses
