"""Built-in scores: magnitude, gradient magnitude, momentum magnitude, random.

Each is a :class:`~maskforge.sparsity.protocols.Score`: called with a
:class:`~maskforge.sparsity.protocols.SparsityContext`, it returns one float tensor per sparsified
parameter, higher meaning more worth keeping (for a pruner) or growing (for a grower).
"""

from __future__ import annotations

import attrs
import torch

from maskforge.sparsity.protocols import SparsityContext


@attrs.frozen
class MagnitudeScore:
    """``|w|``: the weight magnitude (STU-GAN eq. 3, RigL's drop criterion)."""

    def __call__(self, ctx: SparsityContext) -> dict[str, torch.Tensor]:
        return {n: p.detach().abs() for n, p in ctx.params.items()}


@attrs.frozen
class GradientMagnitudeScore:
    """``|dL/dw|`` of the dense gradient (STU-GAN eq. 4, RigL's growth criterion).

    The gradient must be the *dense* one: call the update after backward and before the
    engine masks the gradients in ``optimizer.step()`` (or, as ``stu_gan`` does, keep a copy of
    the dense gradient and put it back in ``.grad`` for an update made after the step).
    """

    def __call__(self, ctx: SparsityContext) -> dict[str, torch.Tensor]:
        missing = [n for n, p in ctx.params.items() if p.grad is None]
        if missing:
            raise RuntimeError(
                f"gradient score needs gradients but {missing[:3]} have none at step {ctx.step} of "
                f"network {ctx.network!r}; run the update after backward on a step of that network"
            )
        return {n: p.grad.detach().abs() for n, p in ctx.params.items()}


@attrs.frozen
class MomentumScore:
    """``|m|``: magnitude of the optimizer's first moment (Adam ``exp_avg``, SGD ``momentum_buffer``)."""

    def __call__(self, ctx: SparsityContext) -> dict[str, torch.Tensor]:
        if ctx.optimizer is None:
            raise RuntimeError("momentum score needs the optimizer; bind one to the sparse engine")
        out = {}
        for n, p in ctx.params.items():
            state = ctx.optimizer.state.get(p, {})
            buf = state.get("exp_avg", state.get("momentum_buffer"))
            out[n] = torch.zeros_like(p, dtype=torch.float32) if buf is None else buf.detach().abs()
        return out


@attrs.frozen
class RandomScore:
    """Uniform random scores from ``ctx.generator`` (identical on every rank with the same seed)."""

    def __call__(self, ctx: SparsityContext) -> dict[str, torch.Tensor]:
        out = {}
        for n, p in ctx.params.items():
            gen = ctx.generator
            if gen is not None and gen.device != p.device:
                # Draw on the generator's device, then move: same numbers on every device.
                out[n] = torch.rand(p.shape, generator=gen, device=gen.device).to(p.device)
            else:
                out[n] = torch.rand(p.shape, generator=gen, device=p.device)
        return out
