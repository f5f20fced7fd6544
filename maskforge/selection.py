"""Exact top-k / bottom-k selection: the hot primitive of pruning, growing, edge-popup and IMP.

Every function here returns boolean masks with *exactly* ``k`` entries set. Entries are ranked by
score, and equal scores are ranked by position — the lower flat index wins, and across several
tensors the earlier tensor wins — so the result is deterministic and the count is exact even
when every score is tied. NaN scores are never selected; asking for more entries than there are
non-NaN scores is an error.

Large inputs never go through a full sort. The sampled path draws a few hundred thousand scores,
sorts only that sample to bracket the k-th score between two values, counts the entries above
the bracket in one comparison pass, gathers the (few) entries inside it and resolves the exact
threshold and its ties among them. If the bracket ever misses (a vanishingly rare sample) the
function falls back to the sort path, so the answer never depends on the sample — only the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch

Method = Literal["auto", "sort", "sample"]

#: Inputs with at least this many entries (in total) take the sampled path under ``method="auto"``.
SAMPLE_PATH_MIN_NUMEL = 1 << 20
_SAMPLE_SEED = 0x5EED


def select_topk(
    scores: torch.Tensor,
    k: int,
    *,
    largest: bool = True,
    within: torch.Tensor | None = None,
    method: Method = "auto",
) -> torch.Tensor:
    """Bool mask (shaped like ``scores``) of the ``k`` highest (or lowest) scores.

    ``within`` restricts the choice to the entries where it is True (e.g. only active weights
    for pruning, only inactive ones for growth); ties are broken by flat index.
    """
    return select_topk_global({"_": scores}, k, largest=largest, within=None if within is None else {"_": within}, method=method)["_"]


def select_topk_global(
    scores: Mapping[str, torch.Tensor],
    k: int,
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
    method: Method = "auto",
) -> dict[str, torch.Tensor]:
    """Bool masks of the ``k`` highest (or lowest) scores over all tensors together.

    Ranks are global: one threshold over every tensor. Ties are broken by position in the
    concatenation of the flattened tensors, in the mapping's order.
    """
    names = list(scores)
    flats = [scores[n].detach().reshape(-1) for n in names]
    regions = None if within is None else [within[n].reshape(-1) for n in names]
    picked = _select_flat(flats, int(k), largest, regions, method)
    return {n: p.reshape(scores[n].shape) for n, p in zip(names, picked)}


def select_topk_per_tensor(
    scores: Mapping[str, torch.Tensor],
    counts: Mapping[str, int],
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
    method: Method = "auto",
) -> dict[str, torch.Tensor]:
    """Bool masks with ``counts[name]`` highest (or lowest) scores selected in each tensor."""
    return {
        n: select_topk(
            s, counts[n], largest=largest, within=None if within is None else within[n], method=method
        )
        for n, s in scores.items()
    }


# -- implementation ------------------------------------------------------------------------------


def _select_flat(
    flats: Sequence[torch.Tensor],
    k: int,
    largest: bool,
    regions: Sequence[torch.Tensor] | None,
    method: Method,
) -> list[torch.Tensor]:
    if method not in ("auto", "sort", "sample"):
        raise ValueError(f"unknown selection method {method!r}; use 'auto', 'sort' or 'sample'")
    if regions is not None:
        # Select among the region's entries only, then scatter the choice back.
        index = [r.nonzero().squeeze(1) for r in regions]
        inner = _select_flat([f[i] for f, i in zip(flats, index)], k, largest, None, method)
        out = []
        for f, i, chosen in zip(flats, index, inner):
            mask = torch.zeros(f.shape, dtype=torch.bool, device=f.device)
            mask[i[chosen]] = True
            out.append(mask)
        return out

    total = sum(f.numel() for f in flats)
    if k < 0 or k > total:
        raise ValueError(f"cannot select k={k} entries out of {total}; k must be in [0, {total}]")
    if k == 0:
        return [torch.zeros(f.shape, dtype=torch.bool, device=f.device) for f in flats]
    use_sample = method == "sample" or (method == "auto" and total >= SAMPLE_PATH_MIN_NUMEL)
    if use_sample:
        picked = _select_sampled(flats, k, largest, total)
        if picked is not None:
            return picked
    return _select_sorted(flats, k, largest)


def _select_sorted(flats: Sequence[torch.Tensor], k: int, largest: bool) -> list[torch.Tensor]:
    """Reference path: one stable sort of everything (ties keep index order)."""
    cat = torch.cat([f.reshape(-1) for f in flats]) if len(flats) > 1 else flats[0].reshape(-1)
    valid = ~torch.isnan(cat)
    n_valid = int(valid.sum())
    if n_valid < k:
        raise ValueError(
            f"cannot select {k} entries: only {n_valid} of {cat.numel()} scores are not NaN; "
            "clean the scores (e.g. torch.nan_to_num) before selecting"
        )
    if n_valid < cat.numel():
        fill = -math.inf if largest else math.inf
        cat = torch.where(valid, cat, torch.full_like(cat, fill))
        # A NaN must lose to a genuine +-inf too: rank it after every valid entry.
        order = torch.sort(cat, descending=largest, stable=True).indices
        order = torch.cat([order[valid[order]], order[~valid[order]]])
    else:
        order = torch.sort(cat, descending=largest, stable=True).indices
    chosen = torch.zeros(cat.numel(), dtype=torch.bool, device=cat.device)
    chosen[order[:k]] = True
    return list(torch.split(chosen, [f.numel() for f in flats]))


def _select_sampled(
    flats: Sequence[torch.Tensor], k: int, largest: bool, total: int
) -> list[torch.Tensor] | None:
    """Bracket the k-th score from a sample, then resolve it exactly; None if the bracket misses."""
    device = flats[0].device
    gen = torch.Generator(device=device)
    gen.manual_seed(_SAMPLE_SEED)
    sample_size = min(total, max(1 << 14, min(1 << 18, total // 256)))
    parts = []
    for f in flats:
        n = f.numel()
        if n == 0:
            continue
        take = max(1, round(sample_size * n / total))
        parts.append(f[torch.randint(n, (take,), generator=gen, device=device)])
    sample = torch.cat(parts)
    sample = sample[~torch.isnan(sample)]
    s = sample.numel()
    if s == 0:
        return None
    sample = torch.sort(sample, descending=largest).values
    p = k / total
    rank = p * s
    margin = 6.0 * math.sqrt(s * p * (1.0 - p)) + 4.0
    outer_pos = math.floor(rank - margin)  # sample position beyond which the k-th cannot lie ...
    inner_pos = math.ceil(rank + margin)  # ... and the one before which it cannot lie
    outer = sample[outer_pos] if outer_pos >= 0 else None
    inner = sample[inner_pos] if inner_pos < s else None
    if outer is None and inner is None:
        return None

    beyond = torch.gt if largest else torch.lt  # strictly better than a value
    reaches = torch.ge if largest else torch.le  # at least as good as a value
    worse_or_equal = torch.le if largest else torch.ge

    picked, cand_index, cand_values = [], [], []
    n_picked = 0
    for f in flats:
        if outer is None:
            sure = torch.zeros(f.shape, dtype=torch.bool, device=device)
            cand = reaches(f, inner)
        else:
            sure = beyond(f, outer)
            n_picked += int(torch.count_nonzero(sure))
            cand = worse_or_equal(f, outer) if inner is None else reaches(f, inner) & ~sure
        idx = cand.nonzero().squeeze(1)
        picked.append(sure)
        cand_index.append(idx)
        cand_values.append(f[idx])
    if n_picked > k:
        return None
    values = torch.cat(cand_values)
    need = k - n_picked
    if values.numel() < need:
        return None
    if need == 0:
        return picked
    # The need-th best candidate value is the exact threshold.
    kth = need if not largest else values.numel() - need + 1
    threshold = torch.kthvalue(values, kth).values
    better = beyond(values, threshold)
    tied = values == threshold
    n_better = int(torch.count_nonzero(better))
    take = better | (tied & (torch.cumsum(tied, 0) <= need - n_better))
    for sure, idx, take_part in zip(picked, cand_index, torch.split(take, [i.numel() for i in cand_index])):
        sure[idx[take_part]] = True
    return picked


def select_count(
    scores: Mapping[str, torch.Tensor],
    count: Mapping[str, int] | int,
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
    method: Method = "auto",
) -> dict[str, torch.Tensor]:
    """Dispatch on a :data:`~maskforge.protocols.Count`: per tensor for a mapping, global for an int."""
    if isinstance(count, Mapping):
        return select_topk_per_tensor(scores, count, largest=largest, within=within, method=method)
    return select_topk_global(scores, int(count), largest=largest, within=within, method=method)
