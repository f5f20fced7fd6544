"""DESIGN invariant 3 and the engine's contract: masked weights stay zero through every
optimizer step; state dicts stay dense-compatible; broken updates name the culprit."""

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from maskforge import InvariantViolation, Mask, MaskMismatchError, SparseEngine, prune_and_grow
from maskforge.plugin_system.registry import describe
from maskforge.sparsity.growers import gradient_grower, random_grower
from maskforge.sparsity.param_filter import ParamFilter
from maskforge.sparsity.pruners import magnitude_pruner
from maskforge.testing import ShapeModel, layer_models, random_mask, shape_maps
from maskforge.testing.strategies import seeds
from tests.test_update_invariants import OPTIMIZERS


def at(indices, shape) -> Mask:
    """The mask of one parameter named ``weight`` with the given flat indices active."""
    flat = torch.zeros(torch.Size(shape).numel(), dtype=torch.bool)
    flat[torch.as_tensor(indices, dtype=torch.long)] = True
    return Mask({"weight": flat.view(shape)})


@given(shape_maps(), seeds, st.floats(0.05, 0.95), st.sampled_from(sorted(OPTIMIZERS)))
def test_masked_weights_and_their_optimizer_state_stay_zero_after_every_step(shapes, seed, density, optimizer):
    model = ShapeModel(shapes, seed)
    mask = random_mask({n: p.shape for n, p in model.named_parameters()}, density, seed)
    opt = OPTIMIZERS[optimizer](model.parameters())
    engine = SparseEngine(model, mask, opt)
    gen = torch.Generator().manual_seed(seed)
    for step in range(1, 9):
        opt.zero_grad()
        model().backward()
        if step % 3 == 0:
            prune_and_grow(engine, magnitude_pruner(), random_grower(), 0.3, step=step, generator=gen)
        opt.step()
        for name, p in engine.params.items():
            inactive = ~engine.mask[name]
            assert torch.all(p.detach()[inactive] == 0), f"{optimizer}: masked weight revived at step {step}"
            for key, value in opt.state[p].items():
                if torch.is_tensor(value) and value.shape == p.shape:
                    assert torch.all(value[inactive] == 0), f"{optimizer}: state {key} nonzero at inactive entries"


@given(layer_models(), seeds, st.floats(0.05, 1.0))
def test_a_sparse_models_state_dict_loads_into_a_plain_dense_model(model, seed, density):
    names = ParamFilter().names(model)
    params = dict(model.named_parameters())
    mask = random_mask({n: params[n].shape for n in names}, density, seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    SparseEngine(model, mask, opt)
    first = model[0]
    channels = first.in_channels if hasattr(first, "in_channels") else first.num_features
    model(torch.randn(2, channels, 4, 4)).sum().backward()
    opt.step()
    assert not model._forward_hooks and not model._forward_pre_hooks
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())
    dense = copy.deepcopy(model)
    for module in dense.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    dense.load_state_dict(model.state_dict(), strict=True)
    for n in names:
        assert torch.equal(dict(dense.named_parameters())[n][~mask[n]], torch.zeros(int((~mask[n]).sum())))


def test_engine_rejects_a_mask_for_another_model():
    model = nn.Linear(3, 3)
    with pytest.raises(MaskMismatchError, match="another model"):
        SparseEngine(model, Mask.ones({"weight": (4, 3)}))


def test_engine_rejects_an_optimizer_that_does_not_train_the_masked_parameters():
    model = nn.Linear(3, 3)
    other = nn.Linear(3, 3)
    with pytest.raises(MaskMismatchError, match="does not train"):
        SparseEngine(model, Mask.ones({"weight": (3, 3)}), torch.optim.SGD(other.parameters(), lr=0.1))


class DropsInactive:
    """A broken pruner: drops entries that are not active."""

    def drop(self, ctx, count):
        return ~ctx.mask


class GrowsActive:
    """A broken grower: 'grows' entries that are already active."""

    def grow(self, ctx, kept, count):
        return kept


class GrowsTooMany:
    """A broken grower: grows every inactive entry."""

    def grow(self, ctx, kept, count):
        return ~kept


def _engine():
    model = nn.Linear(8, 8, bias=False)
    return SparseEngine(model, random_mask({"weight": (8, 8)}, 0.5, 0), torch.optim.Adam(model.parameters()))


@pytest.mark.parametrize(
    "pruner, grower, culprit, rule",
    [
        (DropsInactive(), random_grower(), "DropsInactive", "not active"),
        (magnitude_pruner(), GrowsActive(), "GrowsActive", "still active"),
        (magnitude_pruner(), GrowsTooMany(), "GrowsTooMany", "changed"),
    ],
)
def test_an_invariant_breaking_component_is_named_in_the_error(pruner, grower, culprit, rule):
    engine = _engine()
    before = engine.mask.clone()
    with pytest.raises(InvariantViolation, match=rf"{culprit}.*{rule}") as info:
        prune_and_grow(engine, pruner, grower, 0.5, generator=torch.Generator().manual_seed(0))
    assert culprit in info.value.component
    assert engine.mask == before, "a rejected update must leave the mask untouched"


def test_registry_built_components_are_named_by_plugin_in_errors():
    from maskforge.plugin_system.manager import get_plugins

    engine = _engine()
    pruner = get_plugins().create("pruner", "magnitude")
    with pytest.raises(InvariantViolation, match="GrowsActive"):
        prune_and_grow(engine, pruner, GrowsActive(), 0.5)
    with pytest.raises(InvariantViolation, match="pruner 'magnitude' from plugin 'core'|DropsInactive"):
        prune_and_grow(engine, DropsInactive(), get_plugins().create("grower", "random"), 0.5)
    assert describe(pruner) == "pruner 'magnitude' from plugin 'core'"


def test_set_mask_allows_pruning_below_the_current_count():
    engine = _engine()
    smaller = engine.mask & random_mask({"weight": (8, 8)}, 0.5, 1)
    stats = engine.set_mask(smaller, component="imp round")
    assert engine.mask == smaller and stats.total_grown == 0
    engine.verify()


@given(seed=seeds, density=st.floats(0.1, 0.9), pooled=st.booleans())
def test_updates_of_channels_last_weights_equal_those_of_contiguous_weights(seed, density, pooled):
    """Updates write by flat (row-major) index: channels_last weights get the same masks and the
    same weights, bit for bit. The gradients are given, not computed: a convolution's backward
    rounds differently in the two layouts, which would move near-tied magnitudes across the
    pruning threshold and test the arithmetic instead of the indexing."""
    def build(channels_last: bool):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.Conv2d(6, 4, 3))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        names = ["0.weight", "1.weight"]
        mask = random_mask({n: dict(model.named_parameters())[n].shape for n in names}, density, seed)
        engine = SparseEngine(model, mask, opt)
        gen = torch.Generator().manual_seed(seed)
        for step in range(3):
            for p in model.parameters():  # the same logical gradient, in the parameter's own layout
                p.grad = torch.empty_like(p).copy_(torch.randn(p.shape, generator=gen))
            prune_and_grow(engine, magnitude_pruner(), random_grower(), 0.3, pooled=pooled, step=step,
                           generator=torch.Generator().manual_seed(seed + step))
            opt.step()
        engine.verify()
        return model, engine

    plain, plain_engine = build(False)
    packed, packed_engine = build(True)
    assert packed[0].weight.stride() != plain[0].weight.stride()  # really channels_last
    assert packed_engine.mask == plain_engine.mask and packed_engine.ever_active == plain_engine.ever_active
    for a, b in zip(plain.parameters(), packed.parameters()):
        assert torch.equal(a.detach().view(torch.int32), b.detach().contiguous().view(torch.int32))  # +0.0 included
    for name in ("0.weight", "1.weight"):  # inactive entries exactly +0.0
        inactive = ~plain_engine.mask[name]
        weight = dict(packed.named_parameters())[name].detach()
        assert not weight[inactive].signbit().any() and not weight[inactive].any()


def test_a_drop_taken_from_an_older_mask_is_checked():
    model = nn.Linear(4, 3, bias=False)
    engine = SparseEngine(model, Mask({"weight": torch.eye(3, 4, dtype=torch.bool)}))
    stale = engine.mask
    engine.set_mask(Mask({"weight": torch.tensor([[False, True, False, False]] * 3)}))
    drop = stale & at([0], (3, 4))  # entry (0, 0): no longer active
    none = Mask.zeros({"weight": (3, 4)})
    with pytest.raises(InvariantViolation, match="not active"):
        engine.apply_update(drop, none, preserve="none", component="stale pruner")


def test_only_optimizers_known_to_keep_zero_state_skip_the_state_masking():
    """Exact types only (a subclass may change the update); Adagrad only without an initial accumulator."""
    from maskforge.sparsity.optimizer_state import keeps_inactive_state_zero

    params = [nn.Parameter(torch.zeros(2))]

    class TweakedAdam(torch.optim.Adam):
        pass

    assert keeps_inactive_state_zero(torch.optim.Adam(params)) and keeps_inactive_state_zero(torch.optim.SGD(params, lr=0.1))
    assert keeps_inactive_state_zero(torch.optim.Adagrad(params))
    assert not keeps_inactive_state_zero(torch.optim.Adagrad(params, initial_accumulator_value=0.1))
    assert not keeps_inactive_state_zero(torch.optim.Adamax(params))
    assert not keeps_inactive_state_zero(TweakedAdam(params))


def _stepped_dense_layer(dtype=torch.float32):
    model = nn.Linear(6, 5, bias=False).to(dtype)
    mask = Mask({"weight": torch.ones(5, 6, dtype=torch.bool)})
    opt = torch.optim.Adam(model.parameters(), lr=0.1, eps=1e-3 if dtype == torch.float16 else 1e-8)
    engine = SparseEngine(model, mask, opt)
    model.weight.grad = torch.randn(5, 6, generator=torch.Generator().manual_seed(0)).to(dtype)
    opt.step()
    return model, opt, engine


def test_entries_dropped_and_regrown_by_one_update_keep_their_weight_and_optimizer_state():
    # A layer that ERK makes dense has nothing else to regrow: the update must leave it as it is
    # (RigL), not reset 30% of it to zero at every update.
    model, opt, engine = _stepped_dense_layer()
    weight = model.weight.detach().clone()
    state = {k: v.clone() for k, v in opt.state[model.weight].items()}
    model.weight.grad = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    stats = prune_and_grow(engine, magnitude_pruner(), random_grower(), 0.3, generator=torch.Generator().manual_seed(2))
    assert stats.total_dropped == stats.total_grown == 9
    assert engine.mask["weight"].all()
    assert torch.equal(model.weight.detach(), weight)
    for key, value in state.items():
        assert torch.equal(opt.state[model.weight][key], value), key
    engine.verify()


@pytest.mark.parametrize("written_behind", [False, True], ids=["settled", "written_behind_the_engine"])
def test_only_entries_that_join_the_mask_start_at_zero(written_behind):
    """Entries dropped and regrown by one update keep weight and Adam state; entries that leave or
    join are zero — also when the weights and state were written behind the engine's back."""
    model = nn.Linear(8, 8, bias=False)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    engine = SparseEngine(model, random_mask({"weight": (8, 8)}, 0.5, 3), opt)
    model.weight.grad = torch.randn(8, 8)
    opt.step()
    old = engine.mask["weight"].clone()
    if written_behind:
        with torch.no_grad():  # nonzero everywhere, inactive entries included; the counters move
            model.weight.add_(1.0)
            for value in opt.state[model.weight].values():
                if value.shape == model.weight.shape:
                    value.add_(1.0)
    weight = model.weight.detach().clone()
    state = {k: v.clone() for k, v in opt.state[model.weight].items() if v.shape == model.weight.shape}
    # drop 4 active entries; grow 2 of them back and 2 inactive ones
    active, inactive = torch.nonzero(old.reshape(-1)).squeeze(1), torch.nonzero(~old.reshape(-1)).squeeze(1)
    drop = at(active[:4], (8, 8))
    grow = at(torch.cat([active[:2], inactive[:2]]), (8, 8))
    engine.apply_update(drop, grow)
    flat = model.weight.detach().reshape(-1)
    assert torch.equal(flat[active[:2]], weight.reshape(-1)[active[:2]])  # regrown: kept
    assert torch.all(flat[active[2:4]] == 0) and torch.all(flat[inactive[:2]] == 0)  # left, joined
    assert state.keys() == {"exp_avg", "exp_avg_sq"}
    for key, value in state.items():
        now = opt.state[model.weight][key].reshape(-1)
        assert torch.equal(now[active[:2]], value.reshape(-1)[active[:2]]) and torch.all(now[active[:2]] != 0), key
        assert torch.all(now[torch.cat([active[2:4], inactive[:2]])] == 0), key
    assert engine.ever_active.total_nnz == old.sum() + 2
    if not written_behind:  # (written behind its back, other inactive entries stay nonzero: not rewritten)
        engine.verify()


def test_float16_weights_under_adam_keep_their_inactive_entries_exactly_zero():
    # Adam's default eps (1e-8) is 0 in float16: its step writes 0/0 = NaN at every zero gradient,
    # which a multiply by the mask cannot clear.
    model = nn.Linear(6, 5, bias=False).half()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    engine = SparseEngine(model, random_mask({"weight": (5, 6)}, 0.5, 0), opt)
    for step in range(3):
        model.weight.grad = torch.randn(5, 6, generator=torch.Generator().manual_seed(step)).half()
        opt.step()
        if step == 1:
            model.weight.grad = torch.randn(5, 6).half()
            prune_and_grow(engine, magnitude_pruner(), random_grower(), 0.5, generator=torch.Generator().manual_seed(9))
    inactive = ~engine.mask["weight"]
    assert torch.equal(model.weight.detach()[inactive], torch.zeros(int(inactive.sum()), dtype=torch.float16))
    engine.verify()


def test_a_zero_dim_parameter_is_checked_without_mistaking_the_step_counter_for_state():
    model = nn.Module()
    model.scale = nn.Parameter(torch.tensor(2.0))
    opt = torch.optim.Adam(model.parameters())
    engine = SparseEngine(model, Mask({"scale": torch.tensor(False)}), opt)  # pruned away
    for _ in range(2):
        model.scale.grad = torch.tensor(1.0)
        opt.step()
    engine.verify()  # Adam's 0-d "step" counter is not per-entry state...
    assert float(opt.state[model.scale]["step"]) == 2.0  # ...and is left alone
    assert float(model.scale.detach()) == 0.0


def test_a_mask_taken_from_channels_last_weights_is_stored_row_major_and_updates():
    conv = nn.Conv2d(3, 4, 3, bias=False).to(memory_format=torch.channels_last)
    with torch.no_grad():
        conv.weight.mul_((torch.rand(conv.weight.shape, generator=torch.Generator().manual_seed(0)) < 0.5).float())
    mask = Mask.from_nonzero(conv)
    assert mask["weight"].is_contiguous()
    opt = torch.optim.Adam(conv.parameters())
    engine = SparseEngine(conv, mask, opt)
    conv(torch.randn(2, 3, 6, 6)).square().sum().backward()
    stats = prune_and_grow(engine, magnitude_pruner(), random_grower(), 0.3, generator=torch.Generator().manual_seed(1))
    assert stats.total_grown == stats.total_dropped > 0
    opt.step()
    engine.verify()


def test_a_mask_keyed_by_the_alias_of_a_tied_weight_names_the_first_name():
    model = nn.Module()
    model.emb, model.head = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
    model.head.weight = model.emb.weight
    with pytest.raises(MaskMismatchError, match=r"'head.weight', which is the same tensor as 'emb.weight' \(tied weights\)"):
        SparseEngine(model, Mask({"head.weight": torch.ones(3, 3, dtype=torch.bool)}))


def test_grown_entries_start_at_zero_with_zero_optimizer_state_after_training():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    mask = random_mask({"0.weight": (32, 16), "2.weight": (4, 32)}, 0.3, 0)
    engine = SparseEngine(model, mask, opt)
    x = torch.randn(8, 16)
    for _ in range(3):
        for _ in range(2):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
        opt.zero_grad()
        model(x).square().mean().backward()
        old = engine.mask
        prune_and_grow(engine, magnitude_pruner(), gradient_grower(), 0.3)
        engine.verify(grown_zero=engine.mask - old)
    assert engine.mask.total_nnz == mask.total_nnz


def test_zero_grown_rewrites_grown_entries_changed_behind_the_engines_back():
    engine = _engine()
    p = engine.params["weight"]
    with torch.no_grad():
        p.fill_(3.0)  # breaks the invariant on purpose: inactive weights are no longer zero
    grow = Mask({"weight": ~engine.mask["weight"] & (torch.arange(64).view(8, 8) % 2 == 0)})
    engine.apply_update(Mask.zeros({"weight": (8, 8)}), grow, preserve="none", zero_grown=True)
    assert bool((p.detach()[grow["weight"]] == 0).all())


def test_optimizer_state_changed_behind_the_engines_back_is_zeroed_where_entries_join():
    torch.manual_seed(0)
    model = nn.Linear(8, 8, bias=False)
    opt = torch.optim.Adam(model.parameters())
    engine = SparseEngine(model, random_mask({"weight": (8, 8)}, 0.5, 0), opt)
    model(torch.randn(4, 8)).square().mean().backward()
    opt.step()  # Adam state exists; the engine has just zeroed every inactive entry
    opt.state[model.weight]["exp_avg"].fill_(1.0)  # user code writes the state everywhere
    opt.zero_grad()
    model(torch.randn(4, 8)).square().mean().backward()
    old = engine.mask
    prune_and_grow(engine, magnitude_pruner(), gradient_grower(), 0.5)
    joined = (engine.mask - old)["weight"]
    assert joined.any()
    assert bool((opt.state[model.weight]["exp_avg"][joined] == 0).all())


def test_an_optimizer_state_reloaded_between_step_and_update_is_zeroed_where_entries_join():
    torch.manual_seed(0)
    model = nn.Linear(8, 8, bias=False)
    opt = torch.optim.Adam(model.parameters())
    engine = SparseEngine(model, random_mask({"weight": (8, 8)}, 0.5, 0), opt)
    model(torch.randn(4, 8)).square().mean().backward()
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    saved["state"][0]["exp_avg"].fill_(1.0)
    opt.load_state_dict(saved)  # new state tensors, nonzero at inactive entries
    opt.zero_grad()
    model(torch.randn(4, 8)).square().mean().backward()
    old = engine.mask
    prune_and_grow(engine, magnitude_pruner(), gradient_grower(), 0.5)
    joined = (engine.mask - old)["weight"]
    assert joined.any()
    assert bool((opt.state[model.weight]["exp_avg"][joined] == 0).all())


@given(shape_maps(), seeds, st.floats(0.05, 0.95), st.booleans())
def test_a_mask_update_reads_the_host_once_for_all_layers(shapes, seed, density, pooled):
    model = ShapeModel(shapes, seed)
    mask = random_mask({n: p.shape for n, p in model.named_parameters()}, density, seed)
    engine = SparseEngine(model, mask, torch.optim.Adam(model.parameters()))
    gen = torch.Generator().manual_seed(seed)
    drop = Mask({n: m & (torch.rand(m.shape, generator=gen) < 0.3) for n, m in engine.mask.items()})
    kept = engine.mask - drop
    grow = Mask({n: (~k) & (torch.rand(k.shape, generator=gen) < 0.2) for n, k in kept.items()})
    reads = []
    original = torch.Tensor.tolist
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.Tensor, "tolist", lambda self: reads.append(1) or original(self))
        for name in ("item", "__bool__", "cpu", "numpy"):
            patch.setattr(torch.Tensor, name, lambda self, *a, _n=name, **k: pytest.fail(f"apply_update called Tensor.{_n}"))
        stats = engine.apply_update(drop, grow, preserve="none")
    assert len(reads) == 1
    assert engine.mask == (kept | grow)
    assert stats.nnz == engine.mask.nnz() and stats.dropped == drop.nnz() and stats.grown == grow.nnz()
    assert engine.ever_active == (mask | grow) and stats.exploration_rate == engine.exploration_rate
    engine.verify()
