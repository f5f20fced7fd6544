"""stu_gan and set: invariants through many updates with ties, and real exploration."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from maskforge.plugin_system.manager import get_plugins
from maskforge.runs.single_trainer import train_single
from maskforge.testing import ShapeModel, shape_maps, tied_tensor
from maskforge.testing.strategies import seeds
from tests.strategy_helpers import UpdateSpy, regression_loss, student


@settings(max_examples=15)
@given(shape_maps(min_layers=2, max_layers=4), seeds, st.sampled_from(["stu_gan", "set"]), st.booleans(),
       st.floats(0.05, 0.8))
def test_fifty_updates_with_tied_scores_keep_every_invariant(shapes, seed, name, pooled, density):
    model = ShapeModel(shapes, seed)
    strategy = get_plugins().create("strategy", name, density=density, allocator="uniform", update_every=1, include=["layers.*"],
                                    drop_fraction=0.5, decay="constant", pooled=pooled)
    strategy.attach(model, network="G", generator=torch.Generator().manual_seed(seed), total_steps=100)
    opt = torch.optim.Adam(strategy.trainable_parameters(), lr=0.01)
    strategy.bind(opt)
    spy = UpdateSpy(strategy.engine)
    start = strategy.mask.nnz()
    for step in range(1, 51):
        with torch.no_grad():  # weights and gradients drawn from 3 levels: ties everywhere
            for i, p in enumerate(model.layers):
                p.copy_((tied_tensor(p.shape, 3, seed + step + i) - 0.5) * strategy.mask[f"layers.{i}"])
        for i, p in enumerate(model.layers):
            p.grad = tied_tensor(p.shape, 3, seed + 7 * step + i)
        assert strategy.before_step(step) is None
        opt.step()
        stepped = [p.detach().clone() for p in model.layers]
        state = {i: {k: v.clone() for k, v in opt.state[p].items() if torch.is_tensor(v) and v.shape == p.shape}
                 for i, p in enumerate(model.layers)}
        assert strategy.after_step(step) is not None  # the update follows the optimizer step
        old, drop, grow, _stats = spy.records[-1]
        assert drop.issubset(old)
        assert grow.isdisjoint(old - drop)
        new = strategy.mask
        if pooled:
            assert new.total_nnz == sum(start.values())
        else:
            assert new.nnz() == start
        for i, p in enumerate(model.layers):
            name_i = f"layers.{i}"
            joined, regrown = grow[name_i] & ~old[name_i], grow[name_i] & old[name_i]
            assert torch.all(p.detach()[joined] == 0)  # newly grown: zero weight, zero state
            assert torch.all(p.detach()[~new[name_i]] == 0)
            assert torch.equal(p.detach()[regrown], stepped[i][regrown])  # dropped and regrown: kept
            for key, value in state[i].items():
                assert torch.all(opt.state[p][key][joined] == 0)
                assert torch.equal(opt.state[p][key][regrown], value[regrown])
    assert len(spy.records) == 50


def test_the_update_follows_the_optimizer_step_and_grows_by_the_dense_gradient_of_that_step():
    # STU-GAN Algorithm 1: G's Adam step (line 5), then prune by the new magnitudes and grow by
    # the gradient (lines 6-8). The engine masks gradients in place before the step, so the
    # strategy keeps the dense gradient for the grower.
    model = nn.Linear(6, 4, bias=False)
    strategy = get_plugins().create("strategy", "stu_gan", density=0.5, allocator="uniform", update_every=1,
                                    drop_fraction=0.5, decay="constant")
    strategy.attach(model, generator=torch.Generator().manual_seed(0), total_steps=10)
    opt = torch.optim.SGD(strategy.trainable_parameters(), lr=0.1)
    strategy.bind(opt)
    active = strategy.mask["weight"].reshape(-1).clone()
    grad = torch.randperm(24, generator=torch.Generator().manual_seed(1)).float().reshape(4, 6) + 1.0
    model.weight.grad = grad.clone()
    assert strategy.before_step(1) is None
    opt.step()
    stepped = model.weight.detach().reshape(-1).clone()
    stats = strategy.after_step(1)
    assert stats is not None and stats.total_dropped == stats.total_grown == 6

    # the reference: drop the 6 smallest |w| after the step, grow the 6 largest dense |grad| among
    # the entries inactive after the drop (the just-dropped ones included); distinct values, no ties
    by_weight = sorted(torch.nonzero(active).squeeze(1).tolist(), key=lambda i: float(stepped[i].abs()))
    dropped = torch.zeros(24, dtype=torch.bool)
    dropped[by_weight[:6]] = True
    kept = active & ~dropped
    by_grad = sorted(torch.nonzero(~kept).squeeze(1).tolist(), key=lambda i: -float(grad.reshape(-1)[i]))
    grown = torch.zeros(24, dtype=torch.bool)
    grown[by_grad[:6]] = True
    assert torch.equal(strategy.mask["weight"].reshape(-1), kept | grown)
    weight = model.weight.detach().reshape(-1)
    assert torch.all(weight[grown & ~active] == 0)  # newly grown at zero
    assert torch.all(weight[dropped & ~grown] == 0)
    assert torch.equal(weight[kept | (grown & dropped)], stepped[kept | (grown & dropped)])  # regrown keep their value
    assert torch.equal(model.weight.grad, grad * active.reshape(4, 6))  # the step's masked gradient is back


@pytest.mark.parametrize("name, grower", [("stu_gan", "gradient"), ("set", "random")])
def test_exploration_changes_the_mask_and_grows_the_exploration_rate(name, grower):
    model = student()
    strategy = get_plugins().create("strategy", name, density=0.2, update_every=25)
    assert strategy.grower == grower
    losses = train_single(model, strategy, regression_loss(), steps=300,
                          make_optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
                          generator=torch.Generator().manual_seed(0))
    assert strategy.exploration_rate > 0.2 + 0.02
    assert strategy.mask.total_density == pytest.approx(0.2, abs=1e-3)
    assert sum(losses[-20:]) / 20 < sum(losses[:20]) / 20


def test_updates_stop_at_the_end_step_and_the_cosine_is_clamped():
    model = student()
    strategy = get_plugins().create("strategy", "stu_gan", density=0.3, update_every=10, end_step=50)
    strategy.attach(model, total_steps=200)
    strategy.bind(torch.optim.Adam(strategy.trainable_parameters()))
    assert strategy.drop_fraction_at(0) == pytest.approx(0.5)
    assert strategy.drop_fraction_at(50) == pytest.approx(0.0) and strategy.drop_fraction_at(500) == pytest.approx(0.0)
    model(torch.randn(4, 8)).sum().backward()
    for step, updates in ((40, True), (50, False), (60, False)):
        strategy.before_step(step)
        assert (strategy.after_step(step) is not None) == updates


def test_explore_false_is_the_static_baseline():
    model = student()
    strategy = get_plugins().create("strategy", "stu_gan", density=0.3, update_every=1, explore=False)
    train_single(model, strategy, regression_loss(), steps=20, make_optimizer=lambda p: torch.optim.Adam(p))
    assert strategy.exploration_rate == pytest.approx(strategy.mask.total_density)


@pytest.mark.parametrize("options, message", [
    ({"drop_fraction": 1.0}, r"drop_fraction must be in \[0, 1\)"),
    ({"density": 0.0}, r"density must be in \(0, 1\]"),
    ({"update_every": 0}, r"update_every must be >= 1"),
    ({"decay": "cos"}, "decay"),
])
def test_bad_options_are_rejected_with_the_rule(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        get_plugins().create("strategy", "stu_gan", **options)
