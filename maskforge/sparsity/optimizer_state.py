"""Which optimizers keep their state at zero where the gradient is zero.

The engine zeroes the gradients of inactive entries before every optimizer step. For most
optimizers, per-parameter state that is zero stays zero at a zero gradient (it is a decay plus a
function of the gradient that vanishes at zero), so inactive entries keep zero state with no
further work. Some optimizers move it anyway: Adamax's ``exp_inf`` becomes ``max(β₂·u, |g| + eps)
= eps``, Rprop's step sizes start at ``lr``, Adagrad's accumulator starts at
``initial_accumulator_value``. For those — and for any optimizer not known here — the engine also
zeroes the state of inactive entries after every step (one fused multiply by the mask).
"""

from __future__ import annotations

import torch

#: Exact types (a subclass may change the update) whose state stays zero at a zero gradient.
ZERO_PRESERVING: tuple[type[torch.optim.Optimizer], ...] = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.RMSprop,
    torch.optim.Adadelta,
)


def keeps_inactive_state_zero(optimizer: torch.optim.Optimizer) -> bool:
    """True when ``optimizer``'s per-parameter state stays zero wherever the gradient is always zero."""
    if type(optimizer) in ZERO_PRESERVING:
        return True
    if type(optimizer) is torch.optim.Adagrad:
        return all(group.get("initial_accumulator_value", 0) == 0 for group in optimizer.param_groups)
    return False
