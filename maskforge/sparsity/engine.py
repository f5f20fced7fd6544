"""The sparse engine: binds a Mask to a model and its optimizer and keeps the invariants.

What it does, and when:

* on bind — zeroes the inactive weights and their optimizer state;
* before every ``optimizer.step()`` — multiplies the gradients by the mask (an optimizer
  pre-step hook; one fused ``torch._foreach_mul_`` with cached float masks);
* after every ``optimizer.step()`` — multiplies the weights by the mask again, so weight decay,
  momentum or Adam's moments can never revive an inactive weight (and the optimizer state too,
  for optimizers whose state can move at a zero gradient: see :mod:`maskforge.sparsity.optimizer_state`);
* on every mask update (:meth:`SparseEngine.apply_update`) — checks the update before changing
  anything (drop ⊆ old, grow ∩ kept = ∅, exact counts, nnz preserved), raising
  :class:`~maskforge.errors.InvariantViolation` naming the component that broke a rule; then
  sets the weights that leave to exactly +0.0, starts grown weights at zero and resets the
  optimizer state of both — an entry dropped and regrown by the same update is kept as it is.
  The update is dense boolean arithmetic on the device with one host read (the check's counts
  for every layer); :meth:`SparseEngine.verify` re-reads every weight and optimizer state when
  you want the whole picture.

It installs no forward hooks and no parametrizations: the model keeps plain parameters, so its
``state_dict()`` loads into a dense model of the same architecture and ``torch.compile`` sees
ordinary tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import attrs
import torch
from torch import nn

from maskforge.errors import InvariantViolation, MaskMismatchError
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.optimizer_state import keeps_inactive_state_zero
from maskforge.sparsity.protocols import SparsityContext

Preserve = Literal["layer", "total", "none"]


@attrs.frozen
class MaskUpdateStats:
    """What one mask update changed (passed to the ``maskforge_mask_update`` hook)."""

    network: str
    step: int
    component: str
    dropped: dict[str, int]
    grown: dict[str, int]
    nnz: dict[str, int]
    density: float
    exploration_rate: float

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def total_grown(self) -> int:
        return sum(self.grown.values())


class SparseEngine:
    """Keeps ``model``'s parameters named in ``mask`` sparse while ``optimizer`` trains them.

    Args:
        model: the network; its parameters named by the mask are sparsified in place.
        mask: the initial mask (moved to the parameters' devices).
        optimizer: optional; when given, the engine hooks its ``step()`` to mask gradients
            before and weights after every step, and resets state on mask updates.
        network: a label used in messages and statistics (``"G"``, ``"D"``, ...).
    """

    def __init__(
        self,
        model: nn.Module,
        mask: Mask,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        network: str = "model",
    ):
        self.model = model
        self.network = network
        self.params: dict[str, nn.Parameter] = mask.check_model(model)
        self._mask = Mask({n: mask[n].to(p.device) for n, p in self.params.items()})
        self._build_cache()
        self.ever_active = self._mask.clone()  # entries ever active (replaced by every update)
        self.optimizer: torch.optim.Optimizer | None = None
        self._mask_state = False  # set by attach(): zero inactive optimizer state after each step
        self._hooks: list = []
        self.zero_inactive()
        if optimizer is not None:
            self.attach(optimizer)

    # -- binding --------------------------------------------------------------------------------

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        """Hook ``optimizer.step()`` and clear its state at inactive entries."""
        self.detach()
        self.optimizer = optimizer
        owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
        foreign = [n for n, p in self.params.items() if id(p) not in owned]
        if foreign:
            raise MaskMismatchError(
                f"the optimizer does not train sparsified parameters {foreign[:3]} of {self.network!r}; "
                "build the optimizer over model.parameters() before binding the engine"
            )
        # Optimizers whose state can move at a zero gradient (Adamax, Rprop, Adagrad with an
        # initial accumulator, unknown ones) get their inactive state zeroed after every step too.
        self._mask_state = not keeps_inactive_state_zero(optimizer)
        self._hooks = [
            optimizer.register_step_pre_hook(lambda *_: self.mask_gradients()),
            optimizer.register_step_post_hook(lambda *_: self.enforce()),
        ]
        self._reset_state(~self._mask)

    def detach(self) -> None:
        """Remove the optimizer hooks (the mask stays applied)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    @property
    def mask(self) -> Mask:
        """The current mask (do not modify its tensors; use :meth:`apply_update` / :meth:`set_mask`)."""
        return self._mask

    def context(self, step: int = 0, generator: torch.Generator | None = None) -> SparsityContext:
        """A :class:`~maskforge.sparsity.protocols.SparsityContext` for scores, pruners and growers."""
        return SparsityContext(
            params=self.params, mask=self._mask, optimizer=self.optimizer, step=step,
            generator=generator, network=self.network,
        )

    # -- hot path -------------------------------------------------------------------------------

    def _build_cache(self) -> None:
        names = list(self.params)
        self._tensors = [self.params[n] for n in names]
        # Float masks of each parameter's dtype: multiplying by a bool mask is ~5x slower. Mask
        # updates refill these buffers in place (no allocator churn on an accelerator).
        self._float_masks = [self._mask[n].to(dtype=self.params[n].dtype) for n in names]
        # float16 weights are re-zeroed with masked_fill_, not a multiply: Adam's default eps
        # (1e-8) is 0 in float16, so its step writes 0/0 = NaN at every zero gradient, and
        # NaN * 0 stays NaN. These inverted masks are updated in place like the float ones.
        self._inactive_masks = [~self._mask[n] if self.params[n].dtype == torch.float16 else None for n in names]
        # only the float16 pairs: the training step of other dtypes loops over nothing
        self._refill = [(p, m) for p, m in zip(self._tensors, self._inactive_masks) if m is not None]

    @torch.no_grad()
    def mask_gradients(self) -> None:
        """Zero the gradients of inactive entries (called before every optimizer step)."""
        pairs = [(p.grad, m) for p, m in zip(self._tensors, self._float_masks) if p.grad is not None]
        if pairs:
            grads, masks = zip(*pairs)
            torch._foreach_mul_(list(grads), list(masks))

    @torch.no_grad()
    def zero_inactive(self) -> None:
        """Set every inactive weight to exactly +0.0 (not the -0.0 that ``w * 0`` leaves for a
        negative ``w``). Used when entries become inactive; afterwards every optimizer keeps them
        at +0.0, so masked weights are all-zero bits and compress losslessly."""
        for name, p in self.params.items():
            p.masked_fill_(~self._mask[name], 0.0)

    @torch.no_grad()
    def enforce(self) -> None:
        """Zero the inactive weights (called after every optimizer step), and the optimizer state
        at inactive entries for optimizers that do not keep it at zero themselves."""
        if self._tensors:
            torch._foreach_mul_(self._tensors, self._float_masks)
            for p, inactive in self._refill:
                p.masked_fill_(inactive, 0.0)
        if self._mask_state and self.optimizer is not None:
            self._zero_inactive_state()

    def _zero_inactive_state(self) -> None:
        same, other = ([], []), []
        for p, fmask in zip(self._tensors, self._float_masks):
            for _, value in self._state_tensors(p):
                if value.dtype == fmask.dtype and value.device == fmask.device:
                    same[0].append(value)
                    same[1].append(fmask)
                else:
                    other.append((value, fmask))
        if same[0]:
            torch._foreach_mul_(list(same[0]), list(same[1]))
        for value, fmask in other:
            value.mul_(fmask.to(device=value.device, dtype=value.dtype))

    # -- mask updates ---------------------------------------------------------------------------

    @torch.no_grad()
    def apply_update(
        self,
        drop: Mask,
        grow: Mask,
        *,
        component: str = "mask update",
        drop_component: str | None = None,
        grow_component: str | None = None,
        step: int = 0,
        preserve: Preserve = "layer",
        expected_drop: Mapping[str, int] | int | None = None,
        zero_grown: bool = True,
        reset_state: bool = True,
    ) -> MaskUpdateStats:
        """Apply ``new = (old - drop) | grow`` after checking it is a valid update.

        Args:
            drop: entries to deactivate (must be active now).
            grow: entries to activate (must be inactive after the drop).
            component: who produced the update; named in any error.
            drop_component, grow_component: who produced ``drop`` / ``grow`` when they differ
                (a pruner and a grower); errors about that half name them instead.
            preserve: ``"layer"`` — nnz of every parameter unchanged; ``"total"`` — only the
                total; ``"none"`` — no constraint (pruning schedules, IMP).
            expected_drop: exact drop count per parameter (mapping) or in total (int), if known.
            zero_grown: newly grown weights start at 0 (STU-GAN, RigL).
            reset_state: zero the optimizer state (Adam moments, SGD momentum) of changed entries.

        Everything is boolean-mask arithmetic on the device; the checks' counts for all layers
        are read to the host once, and nothing is changed before they pass. An entry in both
        ``drop`` and ``grow`` (dropped, then regrown by the same update) is active before and
        after it: its weight and optimizer state are left as they are, as in RigL. The
        statistics count it in both ``dropped`` and ``grown``.
        """
        old = self._mask
        drop_by, grow_by = drop_component or component, grow_component or component
        for which, update, by in (("drop", drop, drop_by), ("grow", grow, grow_by)):
            try:
                old._check_compatible(update, which)
            except (MaskMismatchError, TypeError) as err:
                raise InvariantViolation(by, f"its {which} mask does not match the model's mask: {err}") from None
        if preserve not in ("layer", "total", "none"):
            raise ValueError(f"preserve must be 'layer', 'total' or 'none', got {preserve!r}")
        names = list(old)
        new, ever, counts = {}, {}, []
        for n in names:
            before = old[n]
            d, g = drop[n].to(before.device), grow[n].to(before.device)
            kept = before & ~d
            new[n] = kept | g
            ever[n] = self.ever_active[n] | new[n]
            counts.append(torch.stack([(d & ~before).sum(), (g & kept).sum(), d.sum(), g.sum(),
                                       new[n].sum(), ever[n].sum()]))
        rows = _read_rows(counts)  # the update's one host read, for every layer
        not_active = [n for n, r in zip(names, rows) if r[0]]
        if not_active:
            raise InvariantViolation(drop_by, f"it dropped entries that were not active in {not_active[:3]} (drop must be a subset of the mask)")
        still_active = [n for n, r in zip(names, rows) if r[1]]
        if still_active:
            raise InvariantViolation(grow_by, f"it grew entries that were still active in {still_active[:3]} (grow must be disjoint from the kept mask)")
        dropped = {n: r[2] for n, r in zip(names, rows)}
        grown = {n: r[3] for n, r in zip(names, rows)}
        if expected_drop is not None:
            got = sum(dropped.values()) if isinstance(expected_drop, int) else dropped
            if got != expected_drop:
                raise InvariantViolation(drop_by, f"it dropped {got} entries, {expected_drop} were requested")
        if preserve == "layer":
            changed = [(n, dropped[n], grown[n]) for n in names if dropped[n] != grown[n]]
            if changed:
                n, d, g = changed[0]
                raise InvariantViolation(grow_by, f"nnz of {n!r} changed: dropped {d} but grew {g} (per-layer counts must be preserved)")
        elif preserve == "total" and sum(dropped.values()) != sum(grown.values()):
            raise InvariantViolation(grow_by, f"total nnz changed: dropped {sum(dropped.values())} but grew {sum(grown.values())}")

        # Checked: now write. Entries that leave get +0.0 weights; entries that join start at
        # zero; both get zero optimizer state. Entries dropped and regrown are simply kept.
        for n, fmask, inactive in zip(names, self._float_masks, self._inactive_masks):
            param, before = self.params[n], old[n]
            left, joined = before & ~new[n], new[n] & ~before
            param.detach().masked_fill_(left | joined if zero_grown else left, 0.0)
            if reset_state:
                changed = left | joined
                for _, value in self._state_tensors(param):
                    value.masked_fill_(changed.to(value.device), 0)
            fmask.copy_(new[n])
            if inactive is not None:
                torch.logical_not(new[n], out=inactive)
        nnz = {n: r[4] for n, r in zip(names, rows)}
        self._mask = Mask._counted(new, nnz)
        self.ever_active = Mask._counted(ever, {n: r[5] for n, r in zip(names, rows)})
        total = self._mask.total_numel
        return MaskUpdateStats(
            network=self.network, step=step, component=component, dropped=dropped, grown=grown, nnz=nnz,
            density=sum(nnz.values()) / total if total else 1.0,
            exploration_rate=self.exploration_rate,
        )

    def set_mask(self, new: Mask, *, component: str = "set_mask", step: int = 0, zero_grown: bool = True) -> MaskUpdateStats:
        """Replace the mask outright (any nnz change allowed), e.g. after a pruning round."""
        try:
            self._mask._check_compatible(new, "set_mask")
        except (MaskMismatchError, TypeError) as err:
            raise InvariantViolation(component, str(err)) from None
        new = Mask({n: t.to(self._mask[n].device) for n, t in new.items()})
        return self.apply_update(self._mask - new, new - self._mask, component=component, step=step,
                                 preserve="none", zero_grown=zero_grown)

    @torch.no_grad()
    def _reset_state(self, where: Mask) -> None:
        if self.optimizer is None:
            return
        for n, p in self.params.items():
            for _, value in self._state_tensors(p):
                value.masked_fill_(where[n].to(value.device), 0)

    # -- checks ---------------------------------------------------------------------------------

    @property
    def exploration_rate(self) -> float:
        """Share of sparsified entries that have ever been active (ITOP's exploration rate)."""
        total = self.ever_active.total_numel
        return self.ever_active.total_nnz / total if total else 1.0

    @torch.no_grad()
    def verify(self, component: str = "sparse engine", grown_zero: Mask | None = None) -> None:
        """Raise :class:`InvariantViolation` unless every inactive weight (and its optimizer
        state) is zero and, if given, every entry of ``grown_zero`` has zero weight. Reads every
        entry (one host read in all): for tests and debugging, not for the training step."""
        checks, labels = [], []
        for n, p in self.params.items():
            inactive = ~self._mask[n]
            nonzero = p.detach() != 0
            checks.append((nonzero & inactive).any())
            labels.append(f"inactive weights of {n!r} are nonzero after the update")
            if grown_zero is not None:
                checks.append((nonzero & grown_zero[n].to(p.device)).any())
                labels.append(f"newly grown weights of {n!r} are not zero")
            for key, value in self._state_tensors(p):
                checks.append(((value != 0) & inactive.to(value.device)).any())
                labels.append(f"optimizer state {key!r} of {n!r} is nonzero at inactive entries")
        failed = [label for label, bad in zip(labels, _read_rows([torch.stack(checks)])[0] if checks else []) if bad]
        if failed:
            raise InvariantViolation(component, failed[0])

    def _state_values(self, p: torch.Tensor) -> list[torch.Tensor]:
        return [v for _, v in self._state_tensors(p)]

    def _state_tensors(self, p: torch.Tensor):
        if self.optimizer is None:
            return []
        # "step" is a counter (a 0-d tensor that a 0-d parameter's shape would match), not
        # per-entry state.
        return [(k, v) for k, v in self.optimizer.state.get(p, {}).items()
                if k != "step" and isinstance(v, torch.Tensor) and v.shape == p.shape]


def _read_rows(rows: list[torch.Tensor]) -> list[list[int]]:
    """Read small per-layer count vectors to the host in one transfer (layers may sit on
    different devices: their counts are gathered on the first one's)."""
    if not rows:
        return []
    device = rows[0].device
    return torch.stack([r.to(device) for r in rows]).tolist()
