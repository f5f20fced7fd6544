"""Exact top-k / bottom-k selection: the hot primitive of pruning, growing, edge-popup and IMP.

Every function here returns boolean masks with *exactly* ``k`` entries set. Entries are ranked by
score, and equal scores are ranked by position — the lower flat index wins, and across several
tensors the earlier tensor wins — so the result is deterministic and the count is exact even
when every score is tied. NaN scores are never selected; asking for more entries than there are
non-NaN scores is an error.

Inputs of more than a few thousand entries never go through a full sort. The sampled path
draws a seeded random sample (about ``2 * n**(2/3)`` scores, at most 262,144), takes two order
statistics of it to bracket the k-th score between two values, and then makes *one* pass over
the scores — in cache-sized chunks on a CPU — that writes the entries beyond the bracket straight
into the result, counts them, and collects the (few) entries inside the bracket with their
positions. The exact threshold and its ties are resolved among those candidates alone. A
``within`` region is folded into the same pass (or, when it covers less than an eighth of the
entries, its scores are gathered first). If the bracket ever misses (a vanishingly rare sample)
the function falls back to the sort path, so the answer never depends on the sample — only the
time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import torch

Method = Literal["auto", "sort", "sample"]

#: Inputs with at least this many entries (in total) take the sampled path under ``method="auto"``.
SAMPLE_PATH_MIN_NUMEL = 1 << 12
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

#: Entries compared per step of the sampled path's pass on a CPU: the boolean temporaries of one
#: chunk stay in cache. Accelerators take each tensor in one piece.
_CHUNK = 1 << 18
#: A ``within`` region covering less than this share of the entries is gathered first (its scores
#: copied out) instead of being folded into the pass over every entry.
_GATHER_REGION_BELOW = 0.125


def _select_flat(
    flats: Sequence[torch.Tensor],
    k: int,
    largest: bool,
    regions: Sequence[torch.Tensor] | None,
    method: Method,
) -> list[torch.Tensor]:
    if method not in ("auto", "sort", "sample"):
        raise ValueError(f"unknown selection method {method!r}; use 'auto', 'sort' or 'sample'")
    total = sum(f.numel() for f in flats)
    if regions is not None:
        regions = [r if r.dtype == torch.bool else r != 0 for r in regions]
        eligible = sum(int(torch.count_nonzero(r)) for r in regions)
        _check_k(k, eligible)
        if k == 0:
            return [torch.zeros(f.shape, dtype=torch.bool, device=f.device) for f in flats]
        fused = eligible >= _GATHER_REGION_BELOW * total and (
            method == "sample" or (method == "auto" and eligible >= SAMPLE_PATH_MIN_NUMEL)
        )
        if fused:
            picked = _select_sampled(flats, k, largest, regions, eligible)
            if picked is not None:
                return picked
            method = "sort"
        # Select among the region's entries only, then scatter the choice back.
        index = [r.nonzero().squeeze(1) for r in regions]
        inner = _select_flat([f[i] for f, i in zip(flats, index)], k, largest, None, method)
        out = []
        for f, i, chosen in zip(flats, index, inner):
            mask = torch.zeros(f.shape, dtype=torch.bool, device=f.device)
            mask[i[chosen]] = True
            out.append(mask)
        return out

    _check_k(k, total)
    if k == 0:
        return [torch.zeros(f.shape, dtype=torch.bool, device=f.device) for f in flats]
    use_sample = method == "sample" or (method == "auto" and total >= SAMPLE_PATH_MIN_NUMEL)
    if use_sample:
        picked = _select_sampled(flats, k, largest, None, total)
        if picked is not None:
            return picked
    return _select_sorted(flats, k, largest)


def _check_k(k: int, total: int) -> None:
    if k < 0 or k > total:
        raise ValueError(f"cannot select k={k} entries out of {total}; k must be in [0, {total}]")


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


def _bracket(
    flats: Sequence[torch.Tensor],
    k: int,
    largest: bool,
    regions: Sequence[torch.Tensor] | None,
    eligible: int,
) -> tuple[torch.Tensor | None, torch.Tensor | None] | None:
    """Two sampled scores ``(outer, inner)`` between which the k-th best score lies (w.h.p.).

    Entries strictly better than ``outer`` are surely selected; entries worse than ``inner``
    surely not. ``None`` stands for an open end. Returns None when no eligible entry was drawn.
    """
    device = flats[0].device
    total = sum(f.numel() for f in flats)
    gen = torch.Generator(device=device)
    gen.manual_seed(_SAMPLE_SEED)
    # Draw more where a region hides most entries, so that enough eligible ones are drawn.
    share = eligible / total
    base = max(1 << 10, min(1 << 18, round(2.0 * total ** (2.0 / 3.0))))
    draws = min(total, math.ceil(base / share))
    parts, drawn = [], 0
    for i, f in enumerate(flats):
        n = f.numel()
        if n == 0:
            continue
        take = max(1, round(draws * n / total))
        at = torch.randint(n, (take,), generator=gen, device=device)
        values = f[at]
        keep = ~torch.isnan(values)
        if regions is not None:
            keep &= regions[i][at]
        parts.append(values if bool(keep.all()) else values[keep])
        drawn += take
    sample = torch.cat(parts) if len(parts) != 1 else parts[0]
    s = sample.numel()
    if s == 0:
        return None
    # The number of drawn entries ranking before the k-th best is ~ Binomial(drawn, k / total):
    # bracket its expectation by six standard deviations on either side.
    p = k / total
    rank = p * drawn
    margin = 6.0 * math.sqrt(drawn * p * (1.0 - p)) + 4.0
    outer_pos = min(math.floor(rank - margin), s - 1)  # best-first sample positions
    inner_pos = math.ceil(rank + margin)

    def best_first(pos: int) -> torch.Tensor:
        return torch.kthvalue(sample, s - pos if largest else pos + 1).values

    outer = best_first(outer_pos) if outer_pos >= 0 else None
    inner = best_first(inner_pos) if inner_pos < s else None
    return outer, inner


def _select_sampled(
    flats: Sequence[torch.Tensor],
    k: int,
    largest: bool,
    regions: Sequence[torch.Tensor] | None,
    eligible: int,
) -> list[torch.Tensor] | None:
    """Bracket the k-th score from a sample, then resolve it exactly; None if the bracket misses.

    One pass over the scores writes the entries beyond the bracket straight into the result and
    collects the (few) entries inside it with their positions; the exact threshold and its ties
    are then resolved among those candidates alone.
    """
    bracket = _bracket(flats, k, largest, regions, eligible)
    if bracket is None:
        return None
    outer, inner = bracket
    device = flats[0].device
    beyond = torch.gt if largest else torch.lt  # strictly better than a value
    reaches = torch.ge if largest else torch.le  # at least as good as a value
    worse_or_equal = torch.le if largest else torch.ge

    longest = max(f.numel() for f in flats)
    chunk = _CHUNK if device.type == "cpu" else max(1, longest)
    buf = torch.empty(min(chunk, longest), dtype=torch.bool, device=device)
    picked: list[torch.Tensor] = []
    cand_index: list[torch.Tensor] = []
    cand_values: list[torch.Tensor] = []
    sure_counts: list[torch.Tensor] = []
    for i, f in enumerate(flats):
        n = f.numel()
        out = torch.empty(n, dtype=torch.bool, device=device)
        region = None if regions is None else regions[i]
        index_parts, value_parts = [torch.empty(0, dtype=torch.long, device=device)], [f[:0]]
        for start in range(0, n, chunk):
            c = f[start : start + chunk]
            sure = out[start : start + chunk]
            cand = buf[: c.numel()]
            if outer is None:
                sure.zero_()
            else:
                beyond(c, outer, out=sure)
            if inner is not None:
                reaches(c, inner, out=cand)
                if outer is not None:
                    cand.logical_xor_(sure)  # sure is a subset: this removes it
            elif outer is not None:
                worse_or_equal(c, outer, out=cand)
            else:
                torch.eq(c, c, out=cand)  # every non-NaN entry
            if region is not None:
                r = region[start : start + chunk]
                if outer is not None:
                    sure.logical_and_(r)
                cand.logical_and_(r)
            if outer is not None:
                sure_counts.append(torch.count_nonzero(sure))
            at = cand.nonzero().squeeze(1)
            value_parts.append(c[at])
            index_parts.append(at + start if start else at)
        picked.append(out)
        cand_index.append(index_parts[-1] if len(index_parts) == 2 else torch.cat(index_parts))
        cand_values.append(value_parts[-1] if len(value_parts) == 2 else torch.cat(value_parts))

    n_sure = int(torch.stack(sure_counts).sum()) if sure_counts else 0
    values = torch.cat(cand_values) if len(cand_values) != 1 else cand_values[0]
    m = values.numel()
    if n_sure > k or n_sure + m < k:
        return None
    need = k - n_sure
    if need == 0:
        return picked
    # The need-th best candidate value is the exact threshold; ties go by position.
    threshold = torch.kthvalue(values, m - need + 1 if largest else need).values
    take = reaches(values, threshold)
    if int(torch.count_nonzero(take)) != need:  # the threshold is tied beyond the need
        better = beyond(values, threshold)
        tied = take.logical_xor_(better)
        take = better | (tied & (torch.cumsum(tied, 0) <= need - int(torch.count_nonzero(better))))
    # Candidates are not set in the result yet: write the decision for each of them.
    for out, idx, take_part in zip(picked, cand_index, torch.split(take, [i.numel() for i in cand_index])):
        out.index_put_((idx,), take_part)
    return picked


def select_count(
    scores: Mapping[str, torch.Tensor],
    count: Mapping[str, int] | int,
    *,
    largest: bool = True,
    within: Mapping[str, torch.Tensor] | None = None,
    method: Method = "auto",
) -> dict[str, torch.Tensor]:
    """Dispatch on a :data:`~maskforge.sparsity.protocols.Count`: per tensor for a mapping, global for an int."""
    if isinstance(count, Mapping):
        return select_topk_per_tensor(scores, count, largest=largest, within=within, method=method)
    return select_topk_global(scores, int(count), largest=largest, within=within, method=method)
