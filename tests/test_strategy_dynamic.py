"""stu_gan and set: invariants through many updates with ties, and real exploration."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maskforge.plugin_manager import get_plugins
from maskforge.single_trainer import train_single
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
        assert strategy.before_step(step) is not None
        old, drop, grow, _stats = spy.records[-1]
        assert drop.issubset(old)
        assert grow.isdisjoint(old - drop)
        new = strategy.mask
        if pooled:
            assert new.total_nnz == sum(start.values())
        else:
            assert new.nnz() == start
        for i, p in enumerate(model.layers):
            g = grow[f"layers.{i}"]
            assert torch.all(p.detach()[g] == 0)
            for value in opt.state.get(p, {}).values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    assert torch.all(value[g] == 0)
        opt.step()
        strategy.after_step(step)
    assert len(spy.records) == 50


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
    assert strategy.before_step(40) is not None
    assert strategy.before_step(50) is None and strategy.before_step(60) is None


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
