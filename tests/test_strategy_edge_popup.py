"""edge_popup: exact k at every forward (local and global), frozen weights, learning scores."""

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from maskforge.plugin_system.manager import get_plugins
from maskforge.sparsity.selection import select_topk
from maskforge.runs.single_trainer import train_single
from tests.strategy_helpers import regression_loss, student


def _ep(**options):
    return get_plugins().create("strategy", "edge_popup", **options)


def _frozen_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "scores" not in k}


@settings(max_examples=12)
@given(st.floats(0.05, 0.95), st.sampled_from(["uniform", "global"]), st.integers(0, 10_000), st.integers(8, 40))
def test_exactly_k_is_kept_at_every_forward_and_weights_never_change(density, allocator, seed, width):
    model = student(width, seed)
    strategy = _ep(density=density, allocator=allocator)
    loss_fn = regression_loss(seed)
    counts = []

    def checked_loss(m, step):
        loss = loss_fn(m, step)  # the forward computed masks from the current scores
        counts.append(strategy.mask.nnz())
        return loss

    strategy.attach(model, generator=torch.Generator().manual_seed(seed), total_steps=8)
    before = _frozen_state(model)
    names = strategy.mask.names
    numel = {n: strategy.mask[n].numel() for n in names}
    opt = torch.optim.Adam(strategy.trainable_parameters(), lr=0.05)
    strategy.bind(opt)
    for step in range(1, 9):
        opt.zero_grad()
        checked_loss(model, step).backward()
        strategy.before_step(step)
        opt.step()
        strategy.after_step(step)
    total = sum(numel.values())
    for nnz in counts:
        if allocator == "global":
            assert sum(nnz.values()) == round(density * total)
        else:
            assert all(abs(nnz[n] - density * numel[n]) <= 1 for n in names)
    after = _frozen_state(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "edge-popup must never change the weights"


def test_gradients_reach_the_scores_and_not_the_weights():
    model = student()
    strategy = _ep(density=0.3)
    strategy.attach(model)
    regression_loss()(model, 1).backward()
    scores = strategy.trainable_parameters()
    assert scores and all(s.grad is not None and bool(s.grad.abs().sum() > 0) for s in scores)
    assert all(p.grad is None for n, p in model.named_parameters() if "scores" not in n)


@pytest.mark.parametrize("allocator", ["uniform", "global"])
def test_score_search_lowers_the_loss_with_the_weights_untouched(allocator):
    model = student(64)
    strategy = _ep(density=0.5, allocator=allocator, weight_init="signed_constant")
    before = None

    def snapshot(m, step):
        return regression_loss()(m, step)

    strategy.attach(model, generator=torch.Generator().manual_seed(0))
    before = _frozen_state(model)
    losses = train_single(model, strategy, snapshot, steps=150, attach=False,
                          make_optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:10]) / 10
    after = _frozen_state(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_mask_is_the_top_k_of_absolute_scores_per_layer():
    model = student()
    strategy = _ep(density=0.25)
    strategy.attach(model)
    for name, score in strategy.selector.scores.items():
        expected = select_topk(score.detach().abs(), round(0.25 * score.numel()))
        assert torch.equal(strategy.mask[name], expected)


def test_weight_inits_follow_the_slt_paper():
    model = student(32)
    _ep(weight_init="signed_constant").attach(model)
    w = model[2].parametrizations.weight.original
    sigma = math.sqrt(2.0 / 32)
    assert torch.allclose(w.abs(), torch.full_like(w, sigma))
    model = student(32)
    _ep(weight_init="kaiming_normal").attach(model, generator=torch.Generator().manual_seed(0))
    assert model[2].parametrizations.weight.original.std().item() == pytest.approx(sigma, rel=0.15)


def test_pruning_a_pretrained_model_keeps_weights_and_starts_from_magnitudes():
    model = student()
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    strategy = _ep(density=0.4, weight_init="keep", score_init="magnitude")
    strategy.attach(model)
    w = model[0].parametrizations.weight.original
    assert torch.equal(w, trained["0.weight"])
    assert torch.equal(strategy.mask["0.weight"], select_topk(trained["0.weight"].abs(), round(0.4 * w.numel())))


def test_layer_freeze_keeps_first_and_last_layers_dense_and_frozen():
    model = student()
    strategy = _ep(density=0.2, dense_first=True, dense_last=True)
    strategy.attach(model)
    assert strategy.mask.names == ["2.weight"]
    assert not model[0].weight.requires_grad and not hasattr(model[0], "parametrizations")


def test_gradual_schedule_moves_from_dense_to_the_target():
    model = student()
    strategy = _ep(density=0.1, gradual_steps=20)
    densities = []
    train_single(model, strategy, lambda m, s: (densities.append(strategy.mask.total_density), regression_loss()(m, s))[1],
                 steps=30, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    assert densities[0] > 0.8
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(densities))
    assert densities[-1] == pytest.approx(0.1, abs=0.01)


def test_scores_for_biases_mask_the_biases_too():
    model = student()
    strategy = _ep(density=0.5, score_biases=True)
    strategy.attach(model)
    assert "0.bias" in strategy.mask.names


def test_finetuning_the_ticket_trains_surviving_weights_with_the_mask_fixed():
    model = student()
    strategy = _ep(density=0.3)  # the search alone; fine-tuning started by hand
    train_single(model, strategy, regression_loss(), steps=20, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    ticket = strategy.mask
    params = strategy.start_finetune()
    assert strategy.phase == "finetune" and all(p.requires_grad for p in params)
    assert isinstance(model[0].weight, nn.Parameter) and not hasattr(model[0], "parametrizations")
    before = model[0].weight.detach().clone()
    opt = torch.optim.Adam(params, lr=0.01)
    strategy.bind(opt)
    for _ in range(5):
        opt.zero_grad()
        regression_loss()(model, 0).backward()
        opt.step()
    assert strategy.mask == ticket
    assert not torch.equal(model[0].weight, before)
    assert torch.all(model[0].weight[~ticket["0.weight"]] == 0)


def test_scores_round_trip_through_the_strategy_state():
    model = student()
    strategy = _ep(density=0.3)
    train_single(model, strategy, regression_loss(), steps=5, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.05))
    state = strategy.state_dict()
    other_model, other = student(), _ep(density=0.3)
    other.attach(other_model)
    other.load_state_dict(state)
    assert other.mask == strategy.mask


def test_a_gradual_search_restored_from_its_state_resumes_at_the_same_count():
    model, restored_model = student(16, 0), student(16, 0)
    strategy, restored = _ep(density=0.2, gradual_steps=6), _ep(density=0.2, gradual_steps=6)
    strategy.attach(model, generator=torch.Generator().manual_seed(0), total_steps=10)
    restored.attach(restored_model, generator=torch.Generator().manual_seed(0), total_steps=10)
    for s in (strategy, restored):
        s.bind(torch.optim.Adam(s.trainable_parameters()))
    for step in range(1, 4):
        strategy.after_step(step)
    restored.load_state_dict(strategy.state_dict())
    assert restored.selector.count == strategy.selector.count != restored._count_at(1)
    assert restored.mask.nnz() == strategy.mask.nnz()


def test_finetune_steps_make_a_second_round_that_trains_the_ticket():
    search_only, model = _ep(density=0.3), student()
    train_single(model, search_only, regression_loss(), steps=20, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.05),
                 generator=torch.Generator().manual_seed(0))
    ticket = search_only.mask
    strategy, model = _ep(density=0.3, finetune_steps=5), student()
    assert strategy.rounds == 2 and strategy.round_steps(0, 20) == 20 and strategy.round_steps(1, 20) == 5
    losses = train_single(model, strategy, regression_loss(), steps=20, make_optimizer=lambda p: torch.optim.Adam(p, lr=0.05),
                          generator=torch.Generator().manual_seed(0))
    assert len(losses) == 25 and strategy.phase == "finetune"
    assert strategy.mask == ticket  # the same search, then the mask stays fixed
    assert torch.all(model[0].weight[~ticket["0.weight"]] == 0)
    assert min(losses[20:]) < losses[19]  # fine-tuning the weights improves on the search
