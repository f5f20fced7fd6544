"""``positions_where`` (numpy, split across threads on a CPU) equals ``torch.nonzero`` exactly."""

from __future__ import annotations

import contextlib

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge.sparsity import compaction
from maskforge.sparsity.compaction import positions_where
from maskforge.testing.strategies import seeds


@contextlib.contextmanager
def forced(small: int, piece: int, threads: int):
    saved = compaction.SMALL, compaction.PIECE, torch.get_num_threads()
    compaction.SMALL, compaction.PIECE = small, piece
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        compaction.SMALL, compaction.PIECE = saved[:2]
        torch.set_num_threads(saved[2])


@given(n=st.integers(0, 3000), share=st.sampled_from([0.0, 0.001, 0.05, 0.2, 0.8, 1.0]), seed=seeds,
       small=st.sampled_from([1, 1 << 12]), piece=st.sampled_from([7, 1 << 20]), threads=st.integers(1, 3))
def test_positions_where_equals_nonzero_at_every_density_and_split(n, share, seed, small, piece, threads):
    flags = torch.rand(n, generator=torch.Generator().manual_seed(seed)) < share
    with forced(small, piece, threads):  # small=1, piece=7: numpy, in up to `threads` pieces
        got = positions_where(flags)
    assert got.dtype == torch.long and torch.equal(got, flags.nonzero().squeeze(1))


def test_non_contiguous_flags_and_views_are_compacted_correctly():
    flags = torch.rand(4000, generator=torch.Generator().manual_seed(0)) < 0.3
    with forced(1, 7, 2):
        assert torch.equal(positions_where(flags[::3]), flags[::3].nonzero().squeeze(1))
        assert torch.equal(positions_where(flags[1000:]), flags[1000:].nonzero().squeeze(1))


def test_positions_where_rejects_what_it_cannot_compact():
    with pytest.raises(TypeError, match="1-D bool"):
        positions_where(torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="1-D bool"):
        positions_where(torch.ones(3))
