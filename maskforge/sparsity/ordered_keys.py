"""Exact selection by *ordered keys*: a score and its tie-breaking key packed into one int64.

Ranking "by score, equal scores by the lower key" is a lexicographic order on (score, key). For
float32 scores and keys below 2**32 it fits one int64: the score's bits, mapped so that integer
order is float order, in the high half and the key in the low half. All keys are then distinct,
so the k best are exactly the k smallest keys, and one partial selection finds the k-th of them:
no threshold, no second pass over the ties, no pathological case when k falls inside a long run
of equal scores (which slows numpy's introselect on raw floats and forces a tie-break pass on
``torch.kthvalue``).

On a CPU the selection is numpy's ``partition`` (introselect, about 10x faster than
``torch.kthvalue`` on the same data); elsewhere ``torch.kthvalue`` on the int64 keys. float16 and
bfloat16 scores are widened to float32 exactly; float64 scores, keys of 2**32 or more, or NaN
scores (callers remove them first) fall back to the callers' float path (:func:`ordered_keys`
returns None).

On a CPU there is a cheaper first try, :func:`best_by_order_bits`: the score's order bits alone,
as int32 (for magnitudes, a view of the float32 scores: no pass at all). numpy partitions int32
about twice as fast as int64, and the k-th value's ties are resolved by key only when they
straddle the cut. introselect slows down by up to 30x when k falls inside a long run of equal
values (60% zeros: 24 ms against 1 ms for 800K entries), so a strided sample of the scores is
checked for repeats first, and inputs with a frequent value take the packed keys instead.
"""

from __future__ import annotations

import numpy as np
import torch

from maskforge.sparsity import native
from maskforge.sparsity.compaction import positions_where

_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
_KEY_LIMIT = 1 << 32
_LOW31 = 0x7FFFFFFF
_NUMPY_SELECTS = (torch.int64, torch.float32, torch.float64, torch.float16)


def ordered_keys(
    values: torch.Tensor,
    keys: torch.Tensor | None,
    *,
    largest: bool,
    non_negative: bool = False,
    keys_below: int | None = None,
) -> torch.Tensor | None:
    """int64 keys whose ascending order is best-first: by ``values`` (highest first if
    ``largest``), equal values by the lower ``keys`` (distinct integers in [0, 2**32); None: the
    positions ``0..m-1``). Returns None when they cannot be packed (see the module notes).

    ``non_negative`` promises that ``values`` holds no negative number and no -0.0 (magnitudes
    from ``abs``), which skips the sign mapping; ``keys_below`` promises ``0 <= keys <
    keys_below``, which skips checking their range. ``values`` must not hold NaN.
    """
    if values.dtype not in _FLOATS or values.dim() != 1:
        return None
    m = values.numel()
    if keys is None:
        if m >= _KEY_LIMIT:
            return None
        keys = torch.arange(m, device=values.device)
    elif keys_below is not None:
        if keys_below > _KEY_LIMIT:
            return None
    elif m:
        low, high = torch.aminmax(keys)
        if int(low) < 0 or int(high) >= _KEY_LIMIT:
            return None
    bits = order_bits(values, non_negative=non_negative).to(torch.int64)
    if largest:
        bits = bits.neg_()
    return bits.bitwise_left_shift_(32).add_(keys)


def order_bits(values: torch.Tensor, *, non_negative: bool = False) -> torch.Tensor:
    """int32 images of float32 / float16 / bfloat16 ``values`` (no NaN) whose integer order is
    their float order; equal floats (+0.0 and -0.0 included) map to one integer.

    ``non_negative`` promises no negative number and no -0.0: then the image is a view of the
    float32 values (no pass)."""
    v = values.float() if values.dtype != torch.float32 else values
    if non_negative:  # the bits of a non-negative float order like the float
        return v.view(torch.int32)
    # +0.0 and -0.0 compare equal, so they must map to one integer: adding +0.0 turns -0.0 into
    # +0.0 and leaves every other value as it is. Negative floats order backwards as integers:
    # flipping their 31 magnitude bits (-m becomes -1 - m, below every non-negative image)
    # makes the map monotone.
    bits = (v + 0.0).view(torch.int32)
    return bits ^ ((bits >> 31) & _LOW31)


def best_by_order_bits(
    values: torch.Tensor, keys: torch.Tensor | None, k: int, *, largest: bool, non_negative: bool = False
) -> torch.Tensor | None:
    """Positions of the ``k`` best of the 1-D CPU ``values`` (as :func:`ordered_keys` ranks
    them), in increasing order, by one int32 partition of the order bits; None when that does
    not apply (not a float32 / float16 / bfloat16 CPU tensor, or a frequent repeated value)."""
    m = values.numel()
    if values.device.type != "cpu" or values.dtype not in _FLOATS or values.dim() != 1 or not 0 < k < m:
        return None
    bits = order_bits(values, non_negative=non_negative).contiguous().numpy()
    if m >= _SAMPLED_FROM and _has_frequent_value(bits):
        return None
    cut = m - k if largest else k - 1
    kth = np.partition(bits, cut)[cut]
    reach, beyond = (np.greater_equal, np.greater) if largest else (np.less_equal, np.less)
    # The entries that reach the k-th, in increasing order: by the compiled scan where it applies
    # (a float compare with the k-th's value orders exactly as the bits do), else by numpy.
    found = native.reach(values, None, float(_value_of(kth, non_negative)), largest=largest, magnitude=False,
                         expected=k) if values.dtype == torch.float32 else None
    chosen = found[0].numpy() if found is not None else np.flatnonzero(reach(bits, kth))
    if chosen.size == k:
        return torch.from_numpy(chosen)
    # The k-th value repeats across the cut: the lowest keys among its copies take the places left.
    better, tied = np.flatnonzero(beyond(bits, kth)), np.flatnonzero(bits == kth)
    need = k - better.size
    if keys is None:  # keys are the positions, and `tied` is in increasing order
        tied = tied[:need]
    else:
        tied_keys = keys.detach().contiguous().numpy()[tied]
        tied = tied[tied_keys <= np.partition(tied_keys, need - 1)[need - 1]]
    return torch.from_numpy(np.sort(np.concatenate([better, tied])))


def _value_of(bits: np.int32, non_negative: bool) -> np.float32:
    """The float32 whose order bits (:func:`order_bits`) are ``bits``."""
    raw = np.int32(bits if non_negative or bits >= 0 else bits ^ _LOW31)
    return raw.view(np.float32)


#: Inputs from this size on are checked for a frequent value before an int32 partition.
_SAMPLED_FROM = 1 << 13
_SAMPLE = 1 << 10
#: Repeats in the sample above which a value counts as frequent (about 1.5% of the entries).
_REPEATS = 16


def _has_frequent_value(bits: np.ndarray) -> bool:
    """Whether an evenly strided sample of ``bits`` repeats values often: introselect's slow case."""
    sample = np.sort(bits[:: bits.size // _SAMPLE][:_SAMPLE])
    return int(np.count_nonzero(sample[1:] == sample[:-1])) >= _REPEATS


def smallest_positions(keys: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the ``k`` smallest of distinct int64 ``keys``, in increasing order."""
    m = keys.numel()
    if not 0 <= k <= m:
        raise ValueError(f"cannot select k={k} entries out of {m}; k must be in [0, {m}]")
    if k == 0:
        return torch.empty(0, dtype=torch.long, device=keys.device)
    if k == m:
        return torch.arange(m, device=keys.device)
    return positions_where(keys <= kth_smallest(keys, k))


def kth_smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th smallest (1-based) of the 1-D ``values`` (int64 keys, or floats without NaN),
    as a 0-d tensor on their device."""
    if values.device.type == "cpu" and values.dtype in _NUMPY_SELECTS:
        array = values.detach().contiguous().numpy()
        return torch.from_numpy(np.partition(array, k - 1)[k - 1 : k]).reshape(())
    if values.device.type == "cpu" and values.is_floating_point():  # bfloat16: no numpy dtype
        return kth_smallest(values.float(), k).to(values.dtype)
    return torch.kthvalue(values, k).values
