"""Exact top-k / bottom-k that answers with *flat indices*: the fast path of pruning and growing.

A prune-and-grow update touches a few percent of a layer's entries, so its selections should cost
about one read of the scores and nothing proportional to the layer beyond that. The functions
here rank exactly like :mod:`maskforge.sparsity.selection` — by score, equal scores by position (the lower
flat index first; across several tensors ranked together, the earlier tensor first), NaN never
chosen, exactly ``k`` chosen — but return the chosen positions instead of full boolean masks:

* :func:`select_at` ranks only the entries at given flat indices (a pruner ranks the active
  entries, whose indices the :class:`~maskforge.sparsity.mask.Mask` keeps);
* :func:`select_outside` ranks every entry outside an excluded region (a grower ranks all entries
  but the kept ones) in *one* chunked pass over the scores that keeps only the entries that can
  still be chosen;
* :func:`best_positions` is the exact core both use.

Both can read ``|x|`` from a signed tensor ``x`` (``magnitude=True``) without materialising it.
:func:`select_positions_at` answers with positions in the given index instead (for
:meth:`Mask.from_positions <maskforge.sparsity.mask.Mask.from_positions>`). On a CPU the pass, its
sample, the reads of ``|x|`` at given indices and the final compaction run as compiled kernels
where :mod:`maskforge.sparsity.native` applies (same answers; else torch and numpy). Every other
compaction (``nonzero``) goes through :func:`maskforge.sparsity.compaction.positions_where`.
The exact core ranks order-preserving integers (:mod:`maskforge.sparsity.ordered_keys`): on a CPU the
scores' int32 order bits, ties resolved by key where they straddle the cut, else packed (score,
key) int64 keys; inputs of up to ``DIRECT`` entries in one partition; larger ones are first
bracketed from a seeded random sample as in :mod:`maskforge.sparsity.selection`. When a bracket misses, the exact answer is
computed from all eligible entries, so the result never depends on the sample — only the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from maskforge.sparsity import native
from maskforge.sparsity.compaction import positions_where
from maskforge.sparsity.ordered_keys import (
    best_by_order_bits,
    kth_smallest,
    ordered_keys,
    smallest_positions,
)

#: Inputs with fewer entries than this are resolved directly (no sampling).
SMALL = 1 << 12
#: Inputs up to this many entries are selected by one partition of packed keys
#: (:mod:`maskforge.sparsity.ordered_keys`); larger ones are bracketed from a sample first.
DIRECT = 1 << 20
#: Entries per step of :func:`select_outside`'s pass on a CPU (its temporaries stay in cache).
CHUNK = 1 << 18
_SEED = 0x1D5E1


def best_positions(values: torch.Tensor, keys: torch.Tensor, k: int, *, largest: bool) -> torch.Tensor:
    """Positions (into the 1-D ``values``) of the ``k`` best values, in no particular order.

    Equal values are ranked by ``keys`` (distinct integers; the lower key first); NaN values are
    never chosen. Raises ``ValueError`` when fewer than ``k`` values are not NaN.
    """
    return _best_positions(values, keys, k, largest=largest)


def _best_positions(
    values: torch.Tensor, keys: torch.Tensor, k: int, *, largest: bool, non_negative: bool = False,
    keys_below: int | None = None, no_nan: bool = False,
) -> torch.Tensor:
    """:func:`best_positions`; ``non_negative``, ``keys_below`` and ``no_nan`` are promises
    about the inputs that save passes (see :func:`~maskforge.sparsity.ordered_keys.ordered_keys`)."""
    m = values.numel()
    # Magnitudes sum to NaN exactly when one is NaN (no -inf to cancel +inf): one reduction.
    if not no_nan and bool(torch.isnan(values.sum() if non_negative else values).any()):
        nan = torch.isnan(values)
        valid = positions_where(~nan)
        if valid.numel() < k:
            raise ValueError(
                f"cannot select {k} entries: only {valid.numel()} of {m} scores are not NaN; "
                "clean the scores (e.g. torch.nan_to_num) before selecting"
            )
        return gather(valid, _best_positions(gather(values, valid), gather(keys, valid), k, largest=largest,
                                             non_negative=non_negative, keys_below=keys_below))
    if k < 0 or k > m:
        raise ValueError(f"cannot select k={k} entries out of {m}; k must be in [0, {m}]")
    if k == m:
        return torch.arange(m, device=values.device)
    if k == 0:
        return torch.empty(0, dtype=torch.long, device=values.device)
    if m <= DIRECT:
        # One partial selection over the scores' order bits (CPU), or over packed (value, key)
        # integers: exact, ties included.
        chosen = best_by_order_bits(values, keys, k, largest=largest, non_negative=non_negative)
        if chosen is not None:
            return chosen
        packed = ordered_keys(values, keys, largest=largest, non_negative=non_negative, keys_below=keys_below)
        if packed is not None:
            return smallest_positions(packed, k)
    if m >= SMALL and 2 * k > m:
        # Fewer to leave out than to take: find the m - k worst (the best with the order reversed:
        # value the other way, higher key first) and return every other position, in order.
        worst = best_positions(values, -keys, m - k, largest=not largest)
        kept = torch.ones(m, dtype=torch.bool, device=values.device).index_fill_(0, worst, False)
        return positions_where(kept)
    if m >= SMALL:
        bracket = _bracket(values, k, largest)
        if bracket is not None:
            outer, inner = bracket
            beyond = torch.gt if largest else torch.lt
            reaches = torch.ge if largest else torch.le
            sure = beyond(values, outer) if outer is not None else None
            n_sure = int(torch.count_nonzero(sure)) if sure is not None else 0
            cand = reaches(values, inner) if inner is not None else torch.ones_like(values, dtype=torch.bool)
            if sure is not None:
                cand.logical_xor_(sure)  # sure entries also reach inner: this removes them
            cand_pos = positions_where(cand)
            if n_sure <= k <= n_sure + cand_pos.numel():
                chosen = gather(cand_pos, _resolve(gather(values, cand_pos), gather(keys, cand_pos), k - n_sure, largest))
                return chosen if sure is None else torch.cat([positions_where(sure), chosen])
    return _resolve(values, keys, k, largest)


def _resolve(values: torch.Tensor, keys: torch.Tensor, need: int, largest: bool) -> torch.Tensor:
    """Exact: the need-th best value is the threshold; ties at it go to the lowest keys."""
    m = values.numel()
    if need == 0:
        return torch.empty(0, dtype=torch.long, device=values.device)
    if need == m:
        return torch.arange(m, device=values.device)
    chosen = best_by_order_bits(values, keys, need, largest=largest)
    if chosen is not None:
        return chosen
    packed = ordered_keys(values, keys, largest=largest)
    if packed is not None:
        return smallest_positions(packed, need)
    # float64 scores or keys beyond 2**32: a float threshold, then the ties by key
    low, high = torch.aminmax(values)
    if bool(low == high):  # all tied (common: weights grown at zero, dead units' gradients)
        threshold = low
    else:
        threshold = kth_smallest(values, m - need + 1 if largest else need)
    better = positions_where((torch.gt if largest else torch.lt)(values, threshold))
    missing = need - better.numel()
    if missing == 0:
        return better
    tied = positions_where(values == threshold)
    if tied.numel() > missing:  # the `missing` lowest keys among the tied (keys are distinct)
        tied_keys = gather(keys, tied)
        tied = tied[tied_keys <= kth_smallest(tied_keys, missing)]
    return torch.cat([better, tied])


def _bracket(values: torch.Tensor, k: int, largest: bool) -> tuple[torch.Tensor | None, torch.Tensor | None] | None:
    """Two sampled values between which the k-th best lies w.h.p. (None: an open end)."""
    m = values.numel()
    s = min(m, _sample_size(m))
    gen = torch.Generator(device=values.device)
    gen.manual_seed(_SEED)
    sample = gather(values, torch.randint(m, (s,), generator=gen, device=values.device))
    outer_pos, inner_pos = _bracket_positions(k / m, s)
    if outer_pos < 0 and inner_pos >= s:
        return None
    return (_kth_best(sample, outer_pos, largest) if outer_pos >= 0 else None,
            _kth_best(sample, inner_pos, largest) if inner_pos < s else None)


def _sample_size(m: int, share: float | None = None) -> int:
    """Scores drawn to bracket the k-th best of ``m``, within [1024, 16384]: about ``m**(2/3)``,
    or, when the share ``k / m`` is known, ``(m * sqrt(share * (1 - share)))**(2/3)``, which
    balances the draws (each a cache miss) against the entries the bracket's margin lets through
    (about ``6 * m * sqrt(share * (1 - share) / draws)``)."""
    spread = m if share is None else m * math.sqrt(max(share * (1.0 - share), 0.0))
    return max(1 << 10, min(1 << 14, round(spread ** (2.0 / 3.0))))


def _bracket_positions(share: float, s: int) -> tuple[int, int]:
    """Best-first sample positions six standard deviations either side of the expected rank."""
    rank = share * s
    margin = 6.0 * math.sqrt(s * share * (1.0 - share)) + 4.0
    return min(math.floor(rank - margin), s - 1), math.ceil(rank + margin)


def _kth_best(sample: torch.Tensor, pos: int, largest: bool) -> torch.Tensor:
    """The value at best-first position ``pos`` (0-based) of ``sample``."""
    return kth_smallest(sample, sample.numel() - pos if largest else pos + 1)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1)


def gather(flat: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``flat[index]`` for 1-D tensors (``index_select`` is about twice as fast as indexing on a CPU)."""
    return torch.index_select(flat, 0, index)


def _values(source: torch.Tensor, index: torch.Tensor, magnitude: bool) -> torch.Tensor:
    values = gather(_flat(source), index)
    return values.abs_() if magnitude else values


def select_at(
    sources: Mapping[str, torch.Tensor],
    index: Mapping[str, torch.Tensor],
    count: Mapping[str, int] | int,
    *,
    largest: bool,
    magnitude: bool = False,
) -> dict[str, torch.Tensor]:
    """Among the entries at ``index[name]`` (distinct flat indices), the ``count`` best.

    ``count`` is a number per tensor (mapping) or one number over all tensors together (int).
    Scores are ``sources`` (or their absolute values with ``magnitude=True``). Returns the chosen
    flat indices per tensor, in no particular order.
    """
    chosen = select_positions_at(sources, index, count, largest=largest, magnitude=magnitude)
    return {n: gather(index[n], chosen[n]) for n in chosen}


def select_positions_at(
    sources: Mapping[str, torch.Tensor],
    index: Mapping[str, torch.Tensor],
    count: Mapping[str, int] | int,
    *,
    largest: bool,
    magnitude: bool = False,
) -> dict[str, torch.Tensor]:
    """:func:`select_at`, answered with *positions* into ``index[name]`` instead of flat indices
    (what :meth:`Mask.from_positions <maskforge.sparsity.mask.Mask.from_positions>` takes)."""
    names = list(sources)
    read = {n: _values_at(sources[n], index[n], magnitude) for n in names}
    if isinstance(count, Mapping):
        return {n: _best_positions(read[n][0], index[n], int(count[n]), largest=largest, non_negative=magnitude,
                                   keys_below=sources[n].numel(), no_nan=read[n][1] is False)
                for n in names}
    values = torch.cat([read[n][0] for n in names])
    parts, offset = [], 0
    for n in names:
        parts.append(index[n] + offset)
        offset += sources[n].numel()
    no_nan = all(read[n][1] is False for n in names)
    chosen = _best_positions(values, torch.cat(parts), int(count), largest=largest, non_negative=magnitude, keys_below=offset,
                             no_nan=no_nan)
    return _split_positions(chosen, names, [index[n].numel() for n in names])


def _values_at(source: torch.Tensor, index: torch.Tensor, magnitude: bool) -> tuple[torch.Tensor, bool | None]:
    """The scores at ``index`` and whether one is NaN (``None``: not known). Magnitudes come from
    the compiled kernel where it applies (gather, ``abs`` and the NaN check in one walk)."""
    compiled = native.gather_magnitudes(_flat(source), index) if magnitude else None
    return compiled if compiled is not None else (_values(source, index, magnitude), None)


def _split_positions(positions: torch.Tensor, names: Sequence[str], sizes: Sequence[int]) -> dict[str, torch.Tensor]:
    """Positions in a concatenation (of ``sizes`` entries per name) back to positions per name."""
    out, offset = {}, 0
    for n, size in zip(names, sizes):
        inside = positions[(positions >= offset) & (positions < offset + size)]
        out[n] = inside - offset
        offset += size
    return out


def select_outside(
    sources: Mapping[str, torch.Tensor],
    excluded: Mapping[str, torch.Tensor] | None,
    count: Mapping[str, int] | int,
    *,
    largest: bool,
    magnitude: bool = False,
) -> dict[str, torch.Tensor]:
    """Among the entries *not* in ``excluded[name]`` (bool, shaped like the source), the ``count`` best.

    ``count`` as in :func:`select_at`. Returns the chosen flat indices per tensor, in no
    particular order. Raises ``ValueError`` when fewer entries are eligible (not excluded, not
    NaN) than requested.
    """
    names = list(sources)
    flats = {n: _flat(sources[n]) for n in names}
    masks = {n: (None if excluded is None else excluded[n].reshape(-1)) for n in names}
    groups = [([n], int(count[n])) for n in names] if isinstance(count, Mapping) else [(names, int(count))]
    out: dict[str, torch.Tensor] = {}
    for group, k in groups:
        if k < 0:
            raise ValueError(f"cannot select k={k} entries; k must be at least 0")
        bracketed = _candidates(flats, masks, group, k, largest, magnitude)
        if bracketed is None:  # the bracket missed (or there is nothing to gain): use all eligible entries
            candidates = {n: (torch.arange(flats[n].numel(), device=flats[n].device) if masks[n] is None
                              else positions_where(~masks[n])) for n in group}
            scores = None
        else:
            candidates, scores = bracketed
        if scores is None or len(group) > 1:
            out.update(select_at({n: flats[n] for n in group}, candidates, k if len(group) > 1 else {group[0]: k},
                                 largest=largest, magnitude=magnitude))
        else:  # the pass kept the candidates' scores (never NaN: NaN reaches no bound): rank them
            n = group[0]
            chosen = _best_positions(scores[n], candidates[n], k, largest=largest, non_negative=magnitude,
                                     keys_below=flats[n].numel(), no_nan=True)
            out[n] = gather(candidates[n], chosen)
    return out


def _candidates(
    flats: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor | None],
    group: Sequence[str],
    k: int,
    largest: bool,
    magnitude: bool,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None] | None:
    """Eligible entries at least as good as a sampled bound below the k-th best, and their
    scores when the pass kept them (on a CPU); None on a miss."""
    total = sum(flats[n].numel() for n in group)
    if k == 0 or total < SMALL:
        return None
    device = flats[group[0]].device
    gen = torch.Generator(device=device)
    gen.manual_seed(_SEED)
    draws = min(total, _sample_size(total, min(k / total, 0.5)))
    parts, drawn, draws_of = {}, 0, {}
    for i, n in enumerate(group):
        f, size = flats[n], flats[n].numel()
        if size == 0:
            continue
        draws_of[n] = max(1, round(draws * size / total))
        drawn += draws_of[n]
        parts[n] = native.sample(f, masks[n], draws_of[n], seed=_SEED + i, magnitude=magnitude)  # None: torch's draw
        if parts[n] is None:
            at = torch.randint(size, (draws_of[n],), generator=gen, device=device)
            values = gather(f, at).abs_() if magnitude else gather(f, at)
            keep = ~torch.isnan(values)
            if masks[n] is not None:
                keep &= ~gather(masks[n], at)
            parts[n] = values[keep]
    sample = torch.cat(list(parts.values()))
    s = sample.numel()
    if s < 64:  # too few eligible entries drawn to bracket anything
        return None
    # The drawn eligible entries estimate how many are eligible: s / drawn of the total.
    share = k * drawn / (total * s)
    if share >= 1.0:
        return None
    _, inner_pos = _bracket_positions(share, s)
    if inner_pos >= s:
        return None
    inner = _kth_best(sample, inner_pos, largest)
    scores = None
    if device.type == "cpu":
        reaches = torch.ge if largest else torch.le
        # each tensor's hits, estimated from its own draws (sizes the compiled scan's output)
        expected = {n: flats[n].numel() * (int(torch.count_nonzero(reaches(parts[n], inner))) + 1) / draws_of[n]
                    for n in parts}
        reached = {n: _reaching_cpu(flats[n], masks[n], inner, largest, magnitude, expected.get(n)) for n in group}
        found, scores = {n: r[0] for n, r in reached.items()}, {n: r[1] for n, r in reached.items()}
    else:
        found = {n: _reaching(flats[n], masks[n], inner, largest, magnitude) for n in group}
    n_found = sum(at.numel() for at in found.values())
    return (found, scores) if n_found >= k else None


def _reaching(
    flat: torch.Tensor, excluded: torch.Tensor | None, bound: torch.Tensor, largest: bool, magnitude: bool
) -> torch.Tensor:
    """Flat indices of the entries not excluded whose score reaches ``bound`` (NaN never does)."""
    scores = flat.abs() if magnitude else flat
    hits = torch.ge(scores, bound) if largest else torch.le(scores, bound)
    if excluded is not None:
        hits &= ~excluded
    return positions_where(hits)


def _reaching_cpu(
    flat: torch.Tensor, excluded: torch.Tensor | None, bound: torch.Tensor, largest: bool, magnitude: bool,
    expected: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_reaching` on a CPU, and the scores found there (``expected``: an estimate of
    their count). With the compiled scan (:mod:`maskforge.sparsity.native`), in one pass; else one
    cache-sized piece at a time, ``|x|`` by torch (threaded); the comparison, the exclusion and
    the compaction by numpy (its comparison into bool is about 5x faster than torch's), each
    piece compacted and its scores read while they are still in cache."""
    size = flat.numel()
    if size == 0:
        return torch.empty(0, dtype=torch.long), flat[:0].clone()
    compiled = native.reach(flat, excluded, bound.item(), largest=largest, magnitude=magnitude, expected=expected)
    if compiled is not None:
        return compiled
    width = min(CHUNK, size)
    scratch = torch.empty(width, dtype=flat.dtype) if magnitude else None
    hits = np.empty(width, dtype=np.bool_)
    numeric = flat.dtype in (torch.float32, torch.float64, torch.float16)
    limit = bound.item()
    compare = np.greater_equal if largest else np.less_equal
    pieces, scores = [], []
    for start in range(0, size, width):
        piece = flat[start : start + width]
        n = piece.numel()
        if magnitude:
            piece = torch.abs(piece, out=scratch[:n])
        flags = hits[:n]
        if numeric:
            compare(piece.numpy(), limit, out=flags)
        else:  # bfloat16 and other dtypes numpy lacks
            flags[:] = (piece >= bound if largest else piece <= bound).numpy()
        if excluded is not None:
            np.greater(flags, excluded[start : start + n].numpy(), out=flags)  # flags and not excluded
        found = torch.from_numpy(np.flatnonzero(flags))
        scores.append(gather(piece, found))
        pieces.append(found.add_(start))
    if len(pieces) == 1:
        return pieces[0], scores[0]
    return torch.cat(pieces), torch.cat(scores)
