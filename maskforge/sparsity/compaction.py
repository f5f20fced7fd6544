"""Compaction: the positions of the set flags of a 1-D bool tensor (``flags.nonzero()``), fast.

Mask updates compact flags all the time: which entries reach a bound, which survive a drop. On a
CPU, ``torch.nonzero`` costs about 20 ns per set flag when set flags are scattered (a
mispredicted branch each) and more than 1 ns per entry at a third set. numpy's ``flatnonzero``
switches to a branch-free loop above 10% set, and releases the GIL, so :func:`positions_where`
splits a large CPU tensor into one contiguous piece per torch thread and compacts the pieces
concurrently with numpy. Measured on 2 cores, 11.7M flags: 4.3 ms against 7.7 ms at 3.7% set;
about 3.5 ms against 19.5 ms at 30% set. Other devices use ``torch.nonzero`` (a GPU kernel).
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

#: Flags below this many entries are compacted by ``torch.nonzero`` (no numpy round trip).
SMALL = 1 << 12
#: Entries per piece below which a tensor is not split across threads.
PIECE = 1 << 20

_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None
_pool_lock = threading.Lock()


def positions_where(flags: torch.Tensor) -> torch.Tensor:
    """``flags.nonzero()`` of a 1-D bool tensor as a 1-D int64 tensor, in increasing order."""
    if flags.dim() != 1 or flags.dtype != torch.bool:
        raise TypeError(f"positions_where takes a 1-D bool tensor, got {flags.dtype} with shape {tuple(flags.shape)}")
    n = flags.numel()
    if flags.device.type != "cpu" or n < SMALL or not flags.is_contiguous():
        return flags.nonzero().squeeze(1)
    array = flags.numpy()
    pieces = min(torch.get_num_threads(), n // PIECE)
    if pieces <= 1:
        return torch.from_numpy(np.flatnonzero(array))
    bounds = [n * i // pieces for i in range(pieces + 1)]
    pool = _threads(pieces)
    found = [pool.submit(np.flatnonzero, array[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    parts = [f.result() for f in found]
    out = np.empty(sum(p.size for p in parts), dtype=np.int64)
    at = 0
    for lo, part in zip(bounds, parts):
        np.add(part, lo, out=out[at : at + part.size])
        at += part.size
    return torch.from_numpy(out)


def _threads(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads for this process (rebuilt after a fork or a resize)."""
    global _pool, _pool_key
    key = (os.getpid(), workers)
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key[0] == key[0]:
                _pool.shutdown(wait=False)  # resized in this process (after a fork its threads are gone)
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="maskforge-compact")
            _pool_key = key
        return _pool
