"""DESIGN invariant 5 and the ERK algorithm as published (RigL, Evci et al. 2020)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from maskforge.sparsity.allocation import erdos_renyi, erdos_renyi_kernel, global_pool, uniform
from maskforge.testing import check_allocator, shape_maps

# Sparsified layer shapes of BigGAN's CIFAR-10 generator (G_ch=64, dim_z=128, 10 classes,
# three up-sampling G-blocks of 256 channels, class-conditional BN gains/biases as linear maps).
BIGGAN_C10_G = {"linear.weight": (4 * 4 * 256, 128)}
for b in range(3):
    BIGGAN_C10_G.update({
        f"blocks.{b}.conv1.weight": (256, 256, 3, 3),
        f"blocks.{b}.conv2.weight": (256, 256, 3, 3),
        f"blocks.{b}.conv_sc.weight": (256, 256, 1, 1),
        f"blocks.{b}.bn1.gain.weight": (256, 10),
        f"blocks.{b}.bn1.bias.weight": (256, 10),
        f"blocks.{b}.bn2.gain.weight": (256, 10),
        f"blocks.{b}.bn2.bias.weight": (256, 10),
    })
BIGGAN_C10_G["output.conv.weight"] = (3, 256, 3, 3)


def published_erk(shapes, density, power_scale=1.0):
    """RigL's `get_sparsities_erdos_renyi` (include_kernel=True), re-implemented from the paper's
    description with numpy, in sparsity (1 - density) terms as published."""
    sparsity = 1.0 - density
    dense_layers = set()
    while True:
        divisor, rhs, raw = 0.0, 0.0, {}
        for name, shape in shapes.items():
            n_param = np.prod(shape)
            n_zeros = n_param * sparsity
            n_ones = n_param * (1 - sparsity)
            if name in dense_layers:
                rhs -= n_zeros
            else:
                rhs += n_ones
                raw[name] = (np.sum(shape) / np.prod(shape)) ** power_scale
                divisor += raw[name] * n_param
        eps = rhs / divisor
        max_prob = max(raw.values())
        if max_prob * eps > 1:
            dense_layers.update(n for n, p in raw.items() if p == max_prob)
        else:
            break
    return {n: 1.0 if n in dense_layers else eps * raw[n] for n in shapes}


@pytest.mark.parametrize("density", [0.05, 0.1, 0.2, 0.5, 0.7])
@pytest.mark.parametrize("power_scale", [1.0, 0.5])
def test_erk_equals_the_published_algorithm_on_the_biggan_c10_generator(density, power_scale):
    ours = erdos_renyi_kernel(BIGGAN_C10_G, density, power_scale=power_scale)
    theirs = published_erk(BIGGAN_C10_G, density, power_scale)
    for name in BIGGAN_C10_G:
        assert ours.densities[name] == pytest.approx(theirs[name], rel=1e-9, abs=1e-12), name
    total = sum(math.prod(s) for s in BIGGAN_C10_G.values())
    assert ours.total == round(density * total)


def test_erk_capacity_loop_makes_small_layers_dense_and_keeps_the_total():
    allocation = erdos_renyi_kernel(BIGGAN_C10_G, 0.5)
    dense = [n for n, d in allocation.densities.items() if d == 1.0]
    assert dense, "at density 0.5 the small conditional-BN maps must saturate"
    assert all(d <= 1.0 for d in allocation.densities.values())
    total = sum(math.prod(s) for s in BIGGAN_C10_G.values())
    assert allocation.total == round(0.5 * total)


@given(shape_maps(min_layers=2, max_layers=6, max_dim=30), st.floats(0.01, 1.0))
def test_erk_gives_lower_density_to_layers_with_more_weights_per_dimension(shapes, density):
    allocation = erdos_renyi_kernel(shapes, density)
    raw = {n: sum(s) / math.prod(s) for n, s in shapes.items()}
    for a in shapes:
        for b in shapes:
            if raw[a] < raw[b]:
                assert allocation.densities[a] <= allocation.densities[b] + 1e-12


@pytest.mark.parametrize("allocator", [uniform, erdos_renyi, erdos_renyi_kernel])
def test_allocator_conformance(allocator):
    check_allocator(allocator, pooled=False)


def test_global_allocator_conformance_is_pooled():
    check_allocator(global_pool, pooled=True)


def test_power_scale_zero_makes_erk_uniform():
    allocation = erdos_renyi_kernel(BIGGAN_C10_G, 0.1, power_scale=0.0)
    assert all(d == pytest.approx(0.1) for d in allocation.densities.values())


def test_overrides_are_honoured_and_charged_to_the_budget():
    allocation = erdos_renyi_kernel(BIGGAN_C10_G, 0.2, overrides={"linear.weight": 1.0, "output.conv.weight": 1.0})
    assert allocation.densities["linear.weight"] == 1.0
    assert allocation.counts["output.conv.weight"] == 3 * 256 * 9
    total = sum(math.prod(s) for s in BIGGAN_C10_G.values())
    assert allocation.total == round(0.2 * total)


def test_uniform_keeps_the_same_density_everywhere_with_exact_counts():
    allocation = uniform({"a": (10, 10), "b": (7, 3)}, 0.3)
    assert allocation.counts == {"a": 30, "b": 6} or allocation.counts == {"a": 30, "b": 7}
    assert allocation.total == round(0.3 * 121)


def test_unknown_override_suggests_the_closest_name():
    with pytest.raises(ValueError, match="did you mean 'linear.weight'"):
        erdos_renyi_kernel(BIGGAN_C10_G, 0.1, overrides={"linear.weigth": 1.0})


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), "0.1", True])
def test_density_outside_zero_one_is_rejected(bad):
    with pytest.raises(ValueError, match=r"density must be in \(0, 1\]"):
        uniform({"a": (4, 4)}, bad)


def test_overrides_larger_than_the_budget_are_rejected():
    with pytest.raises(ValueError, match="cannot be met"):
        erdos_renyi_kernel({"a": (100, 100), "b": (10, 10)}, 0.01, overrides={"a": 0.5})


@pytest.mark.parametrize("allocator", [erdos_renyi, erdos_renyi_kernel])
def test_overrides_that_leave_the_budget_out_of_reach_are_rejected(allocator):
    # the free layer would have to exceed density 1: the allocation cannot reach the target
    with pytest.raises(ValueError, match="cannot be met: .* keeps 1100 of the 9090 entries"):
        allocator({"big": (100, 100), "small": (10, 10)}, 0.9, overrides={"big": 0.1})


@pytest.mark.parametrize("allocator", [uniform, erdos_renyi, erdos_renyi_kernel])
def test_a_layer_with_no_entries_gets_the_target_density_and_no_share(allocator):
    allocation = allocator({"empty": (0, 4), "b": (8, 8)}, 0.5)
    assert allocation.counts == {"empty": 0, "b": 32}
    assert allocation.densities["empty"] == 0.5


@pytest.mark.parametrize("density", [0.05, 0.2, 0.5])
def test_erk_equals_the_published_algorithm_on_the_shapes_of_the_biggan_model_itself(density):
    from maskforge.models import BigGANGenerator
    from maskforge.sparsity.param_filter import ParamFilter

    shapes = ParamFilter().shapes(BigGANGenerator())
    assert len(shapes) == 23  # the linear, 3 blocks x (3 convs + 4 class-conditional BN embeddings), the output conv
    ours = erdos_renyi_kernel(shapes, density)
    theirs = published_erk(shapes, density)
    for name in shapes:
        assert ours.densities[name] == pytest.approx(theirs[name], rel=1e-9, abs=1e-12), name
