"""imp, pf, random and static: exact remaining fractions, rewinding, magnitude selection."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from maskforge import Mask
from maskforge.plugin_system.manager import get_plugins
from maskforge.sparsity.selection import select_topk, select_topk_global
from maskforge.runs.single_trainer import train_single
from tests.strategy_helpers import regression_loss, student


def _create(name, **options):
    return get_plugins().create("strategy", name, **options)


@settings(max_examples=10)
@given(st.floats(0.05, 0.6), st.integers(1, 4), st.booleans(), st.integers(0, 1000))
def test_imp_keeps_exactly_one_minus_p_to_the_r_and_rewinds_survivors(p, rounds, pooled, seed):
    model = student(16, seed)
    strategy = _create("imp", prune_fraction=p, pruning_rounds=rounds, pooled=pooled)
    strategy.attach(model, generator=torch.Generator().manual_seed(seed), total_steps=5)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    start = strategy.mask.nnz()
    round_ends = []
    loss_fn = regression_loss(seed)
    for r in range(strategy.rounds):  # the trainer's round loop, recording each round's end
        opt = torch.optim.Adam(strategy.trainable_parameters(), lr=0.01)
        strategy.bind(opt)
        for step in range(1, 6):
            opt.zero_grad()
            loss_fn(model, step).backward()
            opt.step()
            strategy.after_step(step)
        strategy.end_round(r)
        round_ends.append((strategy.mask.nnz(), {k: v.clone() for k, v in model.state_dict().items()}, strategy.mask))
    assert strategy.rounds == rounds + 1 and len(round_ends) == rounds + 1
    for r, (nnz, state, mask) in enumerate(round_ends[:rounds], start=1):
        keep = (1 - p) ** r
        if pooled:
            assert sum(nnz.values()) == round(sum(start.values()) * keep)
        else:
            assert all(abs(nnz[n] - start[n] * keep) <= 1 for n in start)
        for name, m in mask.items():  # rewound to init on the surviving mask, zero elsewhere
            assert torch.equal(state[name][m], initial[name][m])
            assert torch.all(state[name][~m] == 0)


def test_imp_round_mask_is_the_global_magnitude_top_k_of_the_trained_weights():
    model = student(24)
    strategy = _create("imp", prune_fraction=0.2, pruning_rounds=1, pooled=True)
    strategy.attach(model, total_steps=30)
    opt = torch.optim.Adam(strategy.trainable_parameters(), lr=0.01)
    strategy.bind(opt)
    for step in range(1, 31):
        opt.zero_grad()
        regression_loss()(model, step).backward()
        opt.step()
    trained = {n: p.detach().abs().clone() for n, p in strategy.engine.params.items()}
    total = sum(t.numel() for t in trained.values())
    strategy.end_round(0)
    assert strategy.mask == Mask(select_topk_global(trained, round(0.8 * total)))


def test_imp_can_rewind_to_step_k():
    model = student(16)
    strategy = _create("imp", pruning_rounds=1, rewind=3)
    strategy.attach(model, total_steps=6)
    opt = torch.optim.Adam(strategy.trainable_parameters(), lr=0.05)
    strategy.bind(opt)
    at_three = None
    for step in range(1, 7):
        opt.zero_grad()
        regression_loss()(model, step).backward()
        opt.step()
        strategy.after_step(step)
        if step == 3:
            at_three = {k: v.clone() for k, v in model.state_dict().items()}
    strategy.end_round(0)
    for name, m in strategy.mask.items():
        assert torch.equal(model.state_dict()[name][m], at_three[name][m])


def test_imp_with_zero_prune_fraction_only_resets_the_network_each_round():
    model = student(16)
    strategy = _create("imp", prune_fraction=0.0, pruning_rounds=2)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    train_single(model, strategy, regression_loss(), steps=5, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    assert strategy.mask.total_density == 1.0
    strategy_state_after_last_round = model.state_dict()
    assert not all(torch.equal(initial[k], strategy_state_after_last_round[k]) for k in initial)  # trained in last round


@pytest.mark.parametrize("allocator", ["global", "uniform"])
def test_pf_prunes_a_trained_model_by_global_or_per_layer_magnitude(allocator):
    model = student(24)
    weights = {n: p.detach().abs().clone() for n, p in model.named_parameters() if n.endswith("weight")}
    strategy = _create("pf", density=0.3, allocator=allocator)
    strategy.attach(model)
    total = sum(t.numel() for t in weights.values())
    if allocator == "global":
        expected = Mask(select_topk_global(weights, round(0.3 * total)))
    else:
        counts = strategy.allocation_for(model).counts
        expected = Mask({n: select_topk(w, counts[n]) for n, w in weights.items()})
    assert strategy.mask == expected


def test_pf_then_finetune_keeps_the_mask_fixed():
    model = student(24)
    strategy = _create("pf", density=0.3)
    losses = train_single(model, strategy, regression_loss(), steps=40, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    first = strategy.mask
    assert losses[-1] < losses[0] and strategy.exploration_rate == pytest.approx(first.total_density)


def test_random_pruning_is_uniform_and_seeded():
    a, b = student(), student()
    sa, sb = _create("random", density=0.25), _create("random", density=0.25)
    sa.attach(a, generator=torch.Generator().manual_seed(3))
    sb.attach(b, generator=torch.Generator().manual_seed(3))
    assert sa.mask == sb.mask
    assert all(abs(d - 0.25) < 0.02 for d in sa.mask.density().values())


@pytest.mark.parametrize("weight_init", ["signed_constant", "kaiming_normal", "keep"])
def test_random_pruning_can_redraw_the_weights_as_edge_popup_does(weight_init):
    model, original = student(), student()
    strategy = _create("random", density=0.5, weight_init=weight_init)
    strategy.attach(model, generator=torch.Generator().manual_seed(3))
    for name, p in model.named_parameters():
        w, active = p.detach(), dict(strategy.mask.items()).get(name)
        sigma = (2.0 / p.shape[1]) ** 0.5 if p.dim() == 2 else None
        if active is None:  # biases are not sparsified and never re-drawn
            assert torch.equal(w, dict(original.named_parameters())[name].detach())
        elif weight_init == "signed_constant":
            assert torch.allclose(w[active].abs(), torch.full((int(active.sum()),), sigma))
        elif weight_init == "kaiming_normal":
            assert not torch.equal(w[active], dict(original.named_parameters())[name].detach()[active])
            assert 0.5 * sigma < float(w[active].std()) < 1.5 * sigma
        else:
            assert torch.equal(w[active], dict(original.named_parameters())[name].detach()[active])
        if active is not None:
            assert torch.all(w[~active] == 0)


def test_random_pruning_rejects_an_unknown_weight_init():
    with pytest.raises(ValueError, match="weight_init"):
        _create("random", weight_init="xavier")


def test_static_uses_erk_and_never_changes():
    model = student(32)
    strategy = _create("static", density=0.2)
    train_single(model, strategy, regression_loss(), steps=30, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    densities = strategy.mask.density()
    assert densities["0.weight"] > densities["2.weight"]  # ERK: the 8x32 input layer is denser than 32x32
    assert strategy.exploration_rate == pytest.approx(strategy.mask.total_density)
