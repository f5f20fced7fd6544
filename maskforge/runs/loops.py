"""One generator step of each trainer.

Each network's strategy is called only on that network's own steps, after that network's
backward and before its optimizer step — so STU-GAN explores G with G's gradients, never on a D
step (a trap of the reference code). Forward passes go through ``c.G_train`` / ``c.D_train``
(the DistributedDataParallel wrappers in a multi-process run); strategies see the plain modules.
"""

from __future__ import annotations

import contextlib

import torch

from maskforge.errors import MaskforgeError
from maskforge.runs.components import Components


class NonFiniteLossError(MaskforgeError):
    """A loss became NaN or infinite and the recipe says to stop."""


def _autocast(c: Components):
    if c.recipe.train.amp and c.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def sample_latents(c: Components, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` latents (and labels for conditional G) from the run's seeded latent generator."""
    gen = c.generators["z"]
    z = torch.randn(n, c.G.dim_z, generator=gen).to(c.device)
    y = None
    if getattr(c.G, "n_classes", 0):
        y = torch.randint(c.G.n_classes, (n,), generator=gen).to(c.device)
    return z, y


def _announce(hook, stats, counters: dict):
    if stats is not None:
        hook.maskforge_mask_update(stats=stats)
        counters.setdefault("updates", []).append(stats)


def _finite(loss: torch.Tensor, name: str, network: str, step: int, c: Components, counters: dict) -> bool:
    """True if ``loss`` is finite; otherwise skip (recorded) or stop, as the recipe says."""
    if bool(torch.isfinite(loss)):
        return True
    if c.recipe.train.on_nonfinite == "skip":
        counters["skipped"] = counters.get("skipped", 0) + 1
        return False
    raise NonFiniteLossError(
        f"{name} is {loss.item()} at step {step} (network {network}); the run stopped, keeping the checkpoints written so far; "
        "lower the learning rate, or set train.on_nonfinite=skip to skip such steps"
    )


def _no_sync(c: Components, last: bool):
    """Inside a multi-process run, skip DDP's all-reduce on every micro-batch but the last one of
    an accumulated step (the gradients are reduced once, summed over the micro-batches)."""
    if last or not c.distributed:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    for module in (c.G_train, c.D_train):
        if hasattr(module, "no_sync"):
            stack.enter_context(module.no_sync())
    return stack


def _optimizer_step(micro_loss, name: str, network: str, step: int, opt, strategy,
                    c: Components, hook, counters: dict) -> torch.Tensor:
    """One step of ``opt`` on the gradient of ``micro_loss()`` averaged over ``train.accumulate``
    micro-batches (each call draws a new one), inside ``strategy``'s before/after hooks; returns
    the mean loss as a detached tensor (no host read). A non-finite loss skips the step (recorded)
    or stops the run, as the recipe says; a loss that needs no gradient (nothing trains) is only
    evaluated."""
    k = c.recipe.train.accumulate
    opt.zero_grad(set_to_none=True)
    total = None
    for i in range(k):
        with _no_sync(c, last=i == k - 1):
            loss = micro_loss()
            if not loss.requires_grad:
                return loss.detach()
            if not _finite(loss, name, network, step, c, counters):
                opt.zero_grad(set_to_none=True)
                return loss.detach()
            mean_part = loss / k if k > 1 else loss
            mean_part.backward()
        total = mean_part.detach() if total is None else total + mean_part.detach()
    _announce(hook, strategy.before_step(step), counters)
    opt.step()
    _announce(hook, strategy.after_step(step), counters)
    return total


def adversarial_step(c: Components, step: int, hook, counters: dict) -> dict:
    """``d_steps`` discriminator steps, then one generator step; returns the losses."""
    r = c.recipe.train
    d_batch = r.d_batch_size or r.batch_size
    d_conditional = getattr(c.D, "n_classes", 0) > 0

    def d_loss() -> torch.Tensor:
        real, y_real = c.data.sample(d_batch, c.generators["data"], c.device)
        z, y_fake = sample_latents(c, d_batch)
        with torch.no_grad(), _autocast(c):
            fake = c.G_train(z, y_fake)
        with _autocast(c):
            return c.loss.discriminator(c.D_train(real, y_real if d_conditional else None),
                                        c.D_train(fake, y_fake if d_conditional else None))

    def g_loss() -> torch.Tensor:
        z, y = sample_latents(c, r.batch_size)
        with _autocast(c):
            return c.loss.generator(c.D_train(c.G_train(z, y), y if d_conditional else None))

    for _ in range(r.d_steps):
        counters["d_step"] += 1
        d_value = _optimizer_step(d_loss, "the D loss", "D", counters["d_step"], c.opt_d, c.d_strategy, c, hook, counters)
    # G's step needs no D weight gradients (not toggled under DDP, which expects fixed grad sets).
    frozen = [] if c.distributed else [p for p in c.D.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        g_value = _optimizer_step(g_loss, "the G loss", "G", step, c.opt_g, c.g_strategy, c, hook, counters)
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return {"d_loss": d_value.item(), "g_loss": g_value.item()}


def moment_matching_step(c: Components, step: int, hook, counters: dict) -> dict:
    """One generator (or score) step on the MMD moment-matching loss."""
    r = c.recipe.train

    def loss() -> torch.Tensor:
        real, _ = c.data.sample(r.batch_size, c.generators["data"], c.device)
        z, y = sample_latents(c, r.batch_size)
        with _autocast(c):
            return c.loss(real, c.G_train(z, y))

    return {"mmd_loss": _optimizer_step(loss, "the MMD loss", "G", step, c.opt_g, c.g_strategy, c, hook, counters).item()}


STEPS = {"adversarial": adversarial_step, "moment_matching": moment_matching_step}
