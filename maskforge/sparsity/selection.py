"""Exact top-k / bottom-k selection, per tensor or over many tensors together (global).

Every function here returns boolean masks with *exactly* ``k`` entries set, on the device of the
scores. Entries are ranked by score; equal scores are ranked by position — the lower flat index
first, and across several tensors ranked together the earlier tensor first — so the answer is
deterministic, the same on every device, and the count is exact even when every score ties
(growth by gradient at a fresh initialisation ties massively). ``within`` restricts the choice
to the entries where it is True (prune inside the mask, grow outside it). NaN scores are never
chosen; asking for more entries than there are eligible ones is an error.

How: the k-th best score is found with one selection (``torch.kthvalue`` on a CPU,
``torch.topk`` on accelerators: CUDA's ``kthvalue`` works a whole 1-D tensor in one thread block,
pytorch/pytorch#75599), entries strictly better than it are taken, and entries equal to it are
taken in index order until the count is met (a cumulative sum over the ties, only when there are
more ties than places). No full sort; a few score-sized temporaries; one host read per call,
for the count check.

Selection runs once per mask update (every 500–2000 steps), so it is kept short and obvious.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch


def select_topk(
    scores: torch.Tensor, k: int, *, largest: bool = True, within: torch.Tensor | None = None
) -> torch.Tensor:
    """Bool mask (shaped like ``scores``) of the ``k`` highest (or lowest) scores.

    ``within`` restricts the choice to the entries where it is True; ties go by flat index.
    """
    return select_topk_global({"_": scores}, k, largest=largest, within=None if within is None else {"_": within})["_"]


def select_topk_global(
    scores: Mapping[str, torch.Tensor],
    k: int,
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Bool masks of the ``k`` highest (or lowest) scores over all tensors together.

    One ranking over every tensor; ties go by position in the concatenation of the flattened
    tensors, in the mapping's order.
    """
    names = list(scores)
    if not names:
        raise ValueError("cannot select from an empty set of score tensors")
    keys, eligible = zip(*(_keys(scores[n], largest, None if within is None else within[n]) for n in names))
    key, ok = (keys[0], eligible[0]) if len(names) == 1 else (torch.cat(keys), torch.cat(eligible))
    chosen = _select([key], [ok], [int(k)], ["the scores"] if len(names) == 1 else ["the scores (over all tensors)"])[0]
    return {n: part.view(scores[n].shape) for n, part in zip(names, torch.split(chosen, [t.numel() for t in keys]))}


def select_topk_per_tensor(
    scores: Mapping[str, torch.Tensor],
    counts: Mapping[str, int],
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Bool masks with ``counts[name]`` highest (or lowest) scores selected in each tensor."""
    names = list(scores)
    missing = [n for n in names if n not in counts]
    if missing:
        raise KeyError(f"no count given for {missing[:3]}; give one count per score tensor")
    keys, eligible = zip(*(_keys(scores[n], largest, None if within is None else within[n]) for n in names)) if names else ((), ())
    chosen = _select(list(keys), list(eligible), [int(counts[n]) for n in names], [repr(n) for n in names])
    return {n: c.view(scores[n].shape) for n, c in zip(names, chosen)}


def select_count(
    scores: Mapping[str, torch.Tensor],
    count: Mapping[str, int] | int,
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Dispatch on a :data:`~maskforge.sparsity.protocols.Count`: per tensor for a mapping,
    global for an int."""
    if isinstance(count, Mapping):
        return select_topk_per_tensor(scores, count, largest=largest, within=within)
    return select_topk_global(scores, int(count), largest=largest, within=within)


# -- implementation ------------------------------------------------------------------------------


def _keys(scores: torch.Tensor, largest: bool, within: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat ranking keys (higher = better; ineligible entries at -inf) and the eligible entries."""
    flat = scores.detach().reshape(-1)
    if not flat.is_floating_point():
        flat = flat.to(torch.float64)  # exact for integers up to 2**53; -inf needs a float
    eligible = ~torch.isnan(flat)
    if within is not None:
        if within.shape != scores.shape:
            raise ValueError(f"within has shape {tuple(within.shape)} but the scores have {tuple(scores.shape)}")
        eligible &= within.reshape(-1).to(device=flat.device, dtype=torch.bool)
    key = flat if largest else torch.neg(flat)
    return key.masked_fill(~eligible, -math.inf), eligible


def _kth_largest(key: torch.Tensor, k: int, by_topk: bool | None = None) -> torch.Tensor:
    """The k-th largest entry of the 1-D ``key`` (a 0-d tensor, no host read); ``torch.topk``
    off the CPU (or when ``by_topk``), else ``torch.kthvalue``."""
    rank = key.numel() - k + 1  # as the rank-th smallest
    if not (key.device.type != "cpu" if by_topk is None else by_topk):
        return torch.kthvalue(key, rank).values
    if k <= rank:  # topk returns its k values and indices: ask for the smaller side
        return torch.topk(key, k, sorted=False).values.min()
    return torch.topk(key, rank, largest=False, sorted=False).values.max()


def _select(keys: Sequence[torch.Tensor], eligible: Sequence[torch.Tensor], ks: Sequence[int],
            labels: Sequence[str]) -> list[torch.Tensor]:
    """The ``ks[i]`` best entries of each ``keys[i]``; one host read for all of them."""
    for k, key, label in zip(ks, keys, labels):
        if not 0 <= k <= key.numel():
            raise ValueError(f"cannot select k={k} entries of {label}: k must be in [0, {key.numel()}]")
    better, tied, stats = [], [], []
    for key, ok, k in zip(keys, eligible, ks):
        if k == 0:
            better.append(torch.zeros_like(ok))
            tied.append(None)
            stats.append(torch.stack([ok.sum(), ok.new_zeros((), dtype=torch.long), ok.new_zeros((), dtype=torch.long)]))
            continue
        threshold = _kth_largest(key, k)
        above = key > threshold  # never an ineligible entry: those sit at -inf
        at = (key == threshold) & ok
        better.append(above)
        tied.append(at)
        stats.append(torch.stack([ok.sum(), above.sum(), at.sum()]))
    counts = torch.stack(stats).tolist() if stats else []  # the one host read
    out = []
    for (n_ok, n_above, n_at), above, at, k, key, label in zip(counts, better, tied, ks, keys, labels):
        if k > n_ok:
            raise ValueError(
                f"cannot select {k} entries of {label}: only {n_ok} of {key.numel()} are eligible "
                "(not NaN and inside `within`); clean the scores (torch.nan_to_num) or ask for fewer"
            )
        if at is None:
            out.append(above)
            continue
        need = k - n_above
        if n_at > need:  # more ties at the threshold than places: the lowest indices win
            dtype = torch.int32 if key.numel() < 2**31 else torch.int64
            at &= torch.cumsum(at, 0, dtype=dtype) <= need
        out.append(above | at)
    return out
