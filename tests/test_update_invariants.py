"""DESIGN invariants 1, 2 and 4: prune-and-grow keeps counts, drops only active entries, grows
only inactive ones, and grown weights start at zero with zero optimizer state — with ties."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from maskforge import SparseEngine, prune_and_grow
from maskforge.sparsity.growers import gradient_grower, momentum_grower, random_grower
from maskforge.sparsity.pruners import magnitude_pruner, random_pruner
from maskforge.sparsity.update import drop_counts
from maskforge.testing import ShapeModel, random_mask, shape_maps, tied_tensor
from maskforge.testing.strategies import seeds

GROWERS = {"gradient": gradient_grower, "random": random_grower, "momentum": momentum_grower}
PRUNERS = {"magnitude": magnitude_pruner, "random": random_pruner}
OPTIMIZERS = {
    "adam": lambda p: torch.optim.Adam(p, lr=0.05),
    "adam_foreach": lambda p: torch.optim.Adam(p, lr=0.05, foreach=True),
    "adam_fused": lambda p: torch.optim.Adam(p, lr=0.05, fused=True),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
    "adamw_foreach": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1, foreach=True),
    "adamw_fused": lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1, fused=True),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
    "sgd_momentum_foreach": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01, foreach=True),
    "sgd_momentum_fused": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01, fused=True),
    # State that moves at a zero gradient: the engine zeroes it at inactive entries after each step.
    "adamax": lambda p: torch.optim.Adamax(p, lr=0.05),
    "rprop": lambda p: torch.optim.Rprop(p, lr=0.05),
    "adagrad_initial_accumulator": lambda p: torch.optim.Adagrad(p, lr=0.05, initial_accumulator_value=0.1),
}


def tied_setup(shapes, seed, density, optimizer="adam", levels=3):
    model = ShapeModel(shapes, seed)
    with torch.no_grad():
        for i, p in enumerate(model.layers):
            p.copy_(tied_tensor(p.shape, levels, seed + i) - 0.5)
    mask = random_mask({n: p.shape for n, p in model.named_parameters()}, density, seed)
    opt = OPTIMIZERS[optimizer](model.parameters())
    return model, SparseEngine(model, mask, opt, network="G"), opt


def tied_backward(model, seed, levels=3):
    for i, p in enumerate(model.layers):
        p.grad = tied_tensor(p.shape, levels, seed + 100 + i)


@given(shape_maps(), seeds, st.floats(0.05, 0.95), st.floats(0.0, 0.9), st.booleans(),
       st.sampled_from(sorted(PRUNERS)), st.sampled_from(sorted(GROWERS)))
def test_drop_is_a_subset_and_grow_is_disjoint_with_exact_counts(shapes, seed, density, fraction, pooled, pruner_name, grower_name):
    model, engine, opt = tied_setup(shapes, seed, density)
    tied_backward(model, seed)
    opt.step()
    tied_backward(model, seed + 1)
    ctx = engine.context(step=1, generator=torch.Generator().manual_seed(seed))
    count = drop_counts(ctx.mask.nnz(), fraction, pooled)
    drop = PRUNERS[pruner_name]().drop(ctx, count)
    assert drop.issubset(ctx.mask)
    got = drop.nnz()
    assert (sum(got.values()) == count) if pooled else (got == count)
    kept = ctx.mask - drop
    grow_count = sum(got.values()) if pooled else got
    grow = GROWERS[grower_name]().grow(ctx, kept, grow_count)
    assert grow.isdisjoint(kept)
    assert (grow.total_nnz == grow_count) if pooled else (grow.nnz() == grow_count)


@given(shape_maps(), seeds, st.floats(0.05, 0.95), st.booleans(), st.sampled_from(sorted(GROWERS)),
       st.sampled_from(sorted(OPTIMIZERS)))
def test_nnz_is_preserved_through_many_updates_and_grown_entries_start_at_zero(shapes, seed, density, pooled, grower_name, optimizer):
    model, engine, opt = tied_setup(shapes, seed, density, optimizer)
    start = engine.mask.nnz()
    for step in range(1, 13):
        tied_backward(model, seed + step)
        old = engine.mask
        stats = prune_and_grow(engine, magnitude_pruner(), GROWERS[grower_name](), 0.5, pooled=pooled,
                               step=step, generator=torch.Generator().manual_seed(seed + step))
        new = engine.mask
        if pooled:
            assert new.total_nnz == sum(start.values())
        else:
            assert new.nnz() == start
        assert stats.total_dropped == stats.total_grown
        grown = new - old
        for name, p in engine.params.items():
            assert torch.all(p.detach()[grown[name]] == 0), "grown weights must start at zero"
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    assert torch.all(value[grown[name]] == 0), f"optimizer state {key} of grown entries must be zero"
        opt.step()


def test_exploration_rate_counts_entries_ever_active():
    shapes = {"layers.0": (20, 20)}
    model, engine, _opt = tied_setup(shapes, 0, 0.1, levels=1000)
    before = engine.exploration_rate
    assert before == engine.mask.total_density
    for step in range(1, 4):
        tied_backward(model, step, levels=1000)
        prune_and_grow(engine, magnitude_pruner(), gradient_grower(), 0.5, step=step)
    assert engine.exploration_rate > before
    assert engine.ever_active.issubset(engine.ever_active | engine.mask) and engine.mask.issubset(engine.ever_active)
