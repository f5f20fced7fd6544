"""The optional compiled kernels (``maskforge._native``, C sources in ``maskforge/csrc/``).

Two parts of a mask update are much faster as one compiled loop than as a chain of torch and
numpy calls on a CPU:

* :func:`reach` — the grower's candidate scan: the flat indices of the entries not excluded
  whose score reaches a bound, in increasing order, and their scores (what
  :func:`maskforge.sparsity.index_selection._reaching_cpu` computes in five passes per cache-sized
  piece), in one branch-free pass with AVX-512, AVX2 or portable C;
* :func:`sample` — the scores at random positions that bracket that bound, in one call;
* :func:`gather_magnitudes` — the pruner's ``|w|`` at the active entries, with the NaN check;
* :func:`mark` and :func:`clear_left` — the engine's writes at the changed entries: set the new
  mask, the ever-active record and the float mask at the grown entries while counting those set
  already, and
  zero the float mask, the weight and every optimizer state at the dropped entries that leave,
  one walk over each index instead of one ``index_fill_`` or ``index_select`` per tensor;
* :func:`replace_at` — the mask's new active index (the grown entries in the dropped ones'
  places) in one forward walk that also checks that the drop's positions are increasing.

Each function returns ``None`` when it does not apply, and the caller then takes the pure path,
which computes the same results (the tests compare both):

* the extension was not built (no C compiler when the package was installed), or the
  environment sets ``MASKFORGE_NATIVE=0``;
* a tensor is not on the CPU, not contiguous, or not of the dtype the kernel takes (float32
  scores and targets, bool flags, int64 indices).

Sizes, dtypes and contiguity are checked here before any address is passed on; the kernels
also check every index against the tensor's size, so a bad index is reported, never written.
Writes through an address do not bump a tensor's version counter, so :func:`clear_left` and
:func:`mark` bump it themselves (autograd still sees that the tensor changed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
from torch.autograd.graph import increment_version

try:
    from maskforge import _native
except ImportError:  # installed without a C compiler: the pure path is used
    _native = None


def kernels() -> list[str]:
    """The compiled scan kernels this CPU runs, the fastest first (empty: not built)."""
    return _native.kernels() if _native is not None else []


def enabled() -> bool:
    """Whether the compiled kernels are used (built, and not turned off by ``MASKFORGE_NATIVE=0``)."""
    return _native is not None and os.environ.get("MASKFORGE_NATIVE", "1") != "0"


def kernel_in_use() -> str:
    """``"avx512"``, ``"avx2"`` or ``"portable"`` when compiled and enabled, else ``"none (torch + numpy)"``."""
    return kernels()[0] if enabled() else "none (torch + numpy)"


def reach(
    flat: torch.Tensor,
    excluded: torch.Tensor | None,
    bound: float,
    *,
    largest: bool,
    magnitude: bool,
    expected: float | None = None,
    kernel: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Flat indices (int64, increasing) of the entries of the 1-D ``flat`` not set in
    ``excluded`` whose score (``|flat|`` with ``magnitude``) is ``>= bound`` (``<=`` unless
    ``largest``), and those scores; NaN never reaches. ``None`` when the kernel does not apply.

    ``expected`` estimates the count (it sizes the output; a low estimate costs a second scan,
    never a wrong answer); ``kernel`` picks one of :func:`kernels` (default: the fastest).
    """
    if not enabled() or not _is_cpu(flat, torch.float32) or (excluded is not None and not _flags_for(excluded, flat)):
        return None
    index = kernels().index(kernel) if kernel is not None else 0
    n = flat.numel()
    capacity = n if expected is None else min(n, int(expected * 1.25 + 6.0 * math.sqrt(max(expected, 0.0))) + 4096)
    skip = excluded.data_ptr() if excluded is not None else 0
    while True:
        positions = torch.empty(capacity, dtype=torch.long)
        scores = torch.empty(capacity, dtype=torch.float32)
        found = _native.reach(flat.data_ptr(), n, skip, float(bound), largest, magnitude, positions.data_ptr(),
                              scores.data_ptr(), capacity, 0, index)
        if found <= capacity:
            return positions[:found], scores[:found]
        capacity = found  # the estimate was low: scan again with room for every hit


def gather_magnitudes(flat: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, bool] | None:
    """``|flat[index]|`` for the 1-D float32 ``flat`` and int64 ``index``, and whether any of
    them is NaN, in one walk; ``None`` when the kernel does not apply. Raises ``IndexError`` for
    an index out of range."""
    if not enabled() or not _is_cpu(flat, torch.float32) or not _is_cpu(index, torch.long):
        return None
    out = torch.empty(index.numel(), dtype=torch.float32)
    nan, bad = _native.gather_magnitudes(flat.data_ptr(), flat.numel(), index.data_ptr(), index.numel(), out.data_ptr())
    if bad:
        raise IndexError(f"{bad} indices out of range for {flat.numel()} entries")
    return out, nan > 0


def sample(flat: torch.Tensor, excluded: torch.Tensor | None, draws: int, *, seed: int, magnitude: bool) -> torch.Tensor | None:
    """Scores (``|flat|`` with ``magnitude``) at ``draws`` positions drawn uniformly with
    replacement (a deterministic stream from ``seed``) among the entries of the 1-D ``flat``,
    leaving out NaN and the entries set in ``excluded``; ``None`` when the kernel does not apply.
    What a sampled bound is computed from: one call instead of a draw, two gathers, a NaN test and
    a compaction per tensor."""
    if not enabled() or not _is_cpu(flat, torch.float32) or (excluded is not None and not _flags_for(excluded, flat)):
        return None
    out = torch.empty(draws, dtype=torch.float32)
    found = _native.sample(flat.data_ptr(), flat.numel(), excluded.data_ptr() if excluded is not None else 0, draws,
                           seed & (2**64 - 1), magnitude, out.data_ptr())
    return out[:found]


def mark(flags: torch.Tensor, index: torch.Tensor, ones: torch.Tensor | None = None) -> int | None:
    """``flags[index] = True`` for the 1-D bool ``flags`` (and ``ones[index] = 1.0`` for a
    float32 ``ones`` of the same size, e.g. a float mask); returns how many of those flags were
    set already (an index listed twice counts once more), or ``None`` when the kernel does not
    apply. Raises ``IndexError`` for an index out of range (skipped; the others are written)."""
    if (not enabled() or not _is_cpu(flags, torch.bool) or not _is_cpu(index, torch.long)
            or (ones is not None and not _is_cpu(ones, torch.float32, flags.numel()))):
        return None
    already, bad = _native.mark(flags.data_ptr(), flags.numel(), index.data_ptr(), index.numel(),
                                ones.data_ptr() if ones is not None else 0)
    for t in (flags,) if ones is None else (flags, ones):
        increment_version(t)
    if bad:
        raise IndexError(f"{bad} indices out of range for {flags.numel()} entries")
    return already


def clear_left(after: torch.Tensor, drops: torch.Tensor, targets: Sequence[torch.Tensor]) -> int | None:
    """Write 0.0 in every tensor of ``targets`` at the dropped entries that leave the mask: the
    entries of ``drops`` not set in ``after`` (the 1-D bool new mask, grown entries included).

    Returns how many entries left, or ``None`` when the kernel does not apply (every target a
    contiguous float32 CPU tensor with as many entries as ``after``, at most 16 of them).
    Raises ``IndexError`` for an index out of range (nothing is written for it).
    """
    if (not enabled() or not _is_cpu(after, torch.bool) or not _is_cpu(drops, torch.long) or not targets
            or len(targets) > 16 or not all(_is_cpu(t, torch.float32, after.numel()) for t in targets)):
        return None
    left, bad = _native.clear_left(after.data_ptr(), after.numel(), drops.data_ptr(), drops.numel(),
                                   [t.data_ptr() for t in targets])
    for t in targets:
        increment_version(t)
    if bad:
        raise IndexError(f"{bad} indices out of range for {after.numel()} entries")
    return left


def replace_at(old: torch.Tensor, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor | None:
    """A copy of the 1-D int64 ``old`` with ``values[k]`` at ``positions[k]``, in one forward
    walk; ``None`` when the kernel does not apply or the positions are not strictly increasing
    and in range (so a ``None`` also means: check them another way)."""
    if (not enabled() or not all(_is_cpu(t, torch.long) for t in (old, positions, values))
            or positions.numel() != values.numel()):
        return None
    out = torch.empty_like(old)
    written = _native.replace_at(old.data_ptr(), old.numel(), positions.data_ptr(), values.data_ptr(), positions.numel(),
                                 out.data_ptr())
    return out if written >= 0 else None


def _is_cpu(t: torch.Tensor, dtype: torch.dtype, numel: int | None = None) -> bool:
    """A contiguous CPU tensor of ``dtype`` (and ``numel`` entries, if given)."""
    return (t.device.type == "cpu" and t.dtype == dtype and t.is_contiguous()
            and (numel is None or t.numel() == numel))


def _flags_for(excluded: torch.Tensor, flat: torch.Tensor) -> bool:
    return _is_cpu(excluded, torch.bool, flat.numel()) and excluded.dim() == 1 and flat.dim() == 1
