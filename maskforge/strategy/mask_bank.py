"""Several named masks over one set of weights (SLT paper: multi-domain generation).

One randomly initialised (or pretrained) generator, one mask per domain: switching domains is
switching masks. :meth:`MaskBank.activate` installs a forward-time mask (a parametrization
``weight = original * mask``) so the stored weights are never modified; activating another
mask only swaps the mask buffers, and :meth:`MaskBank.deactivate` restores the plain model.
Banks are saved bit-packed and atomically, and load with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from maskforge.errors import MaskMismatchError
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.score_masking import _owner
from maskforge.storage.checkpoint import load, save_atomic

FORMAT = "maskforge.mask_bank/1"


class FixedMask(nn.Module):
    """Parametrization ``w -> w * mask`` with a fixed (swappable) float mask buffer."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask.to(torch.float32), persistent=False)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask.to(weight.dtype)


class MaskBank(Mapping[str, Mask]):
    """Named masks that all cover the same parameters with the same shapes."""

    def __init__(self, masks: Mapping[str, Mask] | None = None):
        self._masks: dict[str, Mask] = {}
        self.active: str | None = None
        for name, mask in (masks or {}).items():
            self.add(name, mask)

    def add(self, name: str, mask: Mask) -> None:
        """Add (or replace) the mask called ``name``."""
        if self._masks:
            reference = next(iter(self._masks.values()))
            reference._check_compatible(mask, f"mask bank entry {name!r}")
        self._masks[name] = mask.to("cpu")

    def __getitem__(self, name: str) -> Mask:
        try:
            return self._masks[name]
        except KeyError:
            raise KeyError(f"mask bank has no mask {name!r}; it has {sorted(self._masks)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Path | str) -> Path:
        """Write every mask (bit-packed) to ``path`` atomically."""
        return save_atomic({"format": FORMAT, "masks": {n: m.state_dict() for n, m in self._masks.items()}}, path)

    @classmethod
    def load(cls, path: Path | str) -> MaskBank:
        """Read a bank written by :meth:`save`."""
        state = load(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise MaskMismatchError(f"{path} is not a maskforge mask bank (expected format {FORMAT!r})")
        return cls({n: Mask.from_state_dict(s) for n, s in state["masks"].items()})

    # -- switching ------------------------------------------------------------------------------

    def activate(self, model: nn.Module, name: str) -> None:
        """Make ``model`` compute with mask ``name``; its stored weights are not touched."""
        mask = self[name]
        for pname, bits in mask.items():
            module, attr = _owner(model, pname)
            if self.active is not None and parametrize.is_parametrized(module, attr):
                for p in module.parametrizations[attr]:
                    if isinstance(p, FixedMask):
                        p.mask.copy_(bits.to(p.mask.device, torch.float32))
                        break
                continue
            device = getattr(module, attr).device
            parametrize.register_parametrization(module, attr, FixedMask(bits.to(device)))
        self.active = name

    def deactivate(self, model: nn.Module) -> None:
        """Remove the forward-time masks: the model computes with its full stored weights again."""
        if self.active is None:
            return
        for pname in self[self.active]:
            module, attr = _owner(model, pname)
            if parametrize.is_parametrized(module, attr):
                parametrize.remove_parametrizations(module, attr, leave_parametrized=False)
        self.active = None
