"""BigGAN's ImageNet layout (64-512 px): the reference's sizes, conditioning, attention, dispatch."""

import pytest
import torch

from maskforge import SparseEngine, erdos_renyi_kernel
from maskforge.models import (
    BigGANDiscriminator,
    BigGANGenerator,
    BigGANImageNetDiscriminator,
    BigGANImageNetGenerator,
)
from maskforge.models.attention import SelfAttention
from maskforge.plugin_system.manager import load_plugins
from maskforge.sparsity.sparsify import allocate, init_mask

TINY = 1 / 24  # ch = 4


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_full_size_128px_counts_equal_the_reference_printout():
    # ajbrock/BigGAN-PyTorch prints these for its ImageNet 128x128 model (G_ch = D_ch = 96,
    # shared_dim 128, hier, dim_z 120, attention at 64): the layout matches layer for layer.
    assert _count(BigGANImageNetGenerator(init="N02")) == 70_433_988
    assert _count(BigGANImageNetDiscriminator(init="N02")) == 87_982_370


@pytest.mark.parametrize("resolution", [64, 128])
@pytest.mark.parametrize("n_classes", [0, 5])
def test_tiny_models_map_noise_to_images_and_images_to_logits(resolution, n_classes):
    torch.manual_seed(0)
    g = BigGANImageNetGenerator(resolution=resolution, width=TINY, n_classes=n_classes)
    d = BigGANImageNetDiscriminator(resolution=resolution, width=TINY, n_classes=n_classes)
    y = torch.randint(0, n_classes, (2,)) if n_classes else None
    x = g(torch.randn(2, g.dim_z), y)
    assert x.shape == (2, 3, resolution, resolution) and x.abs().max() <= 1
    logits = d(x, y)
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in d.parameters() if p.requires_grad)


def test_hierarchical_z_feeds_one_chunk_per_block_and_rounds_dim_z_down():
    g = BigGANImageNetGenerator(resolution=128, width=TINY, n_classes=3, dim_z=128)
    assert g.chunk == 128 // 6 and g.dim_z == 6 * g.chunk  # 5 blocks + the first linear layer
    g.eval()
    z, y = torch.randn(1, g.dim_z), torch.tensor([1])
    base = g(z, y)
    for chunk in range(6):  # every chunk reaches the image
        moved = z.clone()
        moved[:, chunk * g.chunk : (chunk + 1) * g.chunk] += 1.0
        assert not torch.allclose(g(moved, y), base)
    with pytest.raises(ValueError, match=r"z must have shape \(B, 126\)"):
        g(torch.randn(1, 128), y)


def test_the_class_embedding_is_shared_by_every_block_and_conditions_the_output():
    g = BigGANImageNetGenerator(resolution=64, width=TINY, n_classes=4).eval()
    assert g.shared.weight.shape == (4, 128)
    assert all(block.bn1.gain.parametrizations.weight.original.shape[1] == 128 + g.chunk for block in g.blocks)
    z = torch.randn(1, g.dim_z).repeat(2, 1)
    x = g(z, torch.tensor([0, 3]))
    assert not torch.allclose(x[0], x[1])
    with pytest.raises(ValueError, match="class-conditional"):
        g(z)


def test_attention_sits_after_the_64px_block_and_starts_as_the_identity():
    g = BigGANImageNetGenerator(resolution=128, width=TINY)
    d = BigGANImageNetDiscriminator(resolution=128, width=TINY)
    assert list(g.attention) == ["3"]  # blocks output 8, 16, 32, 64, 128
    assert list(d.attention) == ["0"]  # blocks output 64, 32, 16, 8, 4, 4
    none = BigGANImageNetGenerator(resolution=64, width=TINY, attention=())
    assert len(none.attention) == 0
    layer = SelfAttention(16, init=torch.nn.init.normal_)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(layer(x), x)  # gamma = 0
    with torch.no_grad():
        layer.gamma.fill_(1.0)
    assert not torch.allclose(layer(x), x)


def test_unconditional_flat_latent_uses_plain_batch_norm():
    g = BigGANImageNetGenerator(resolution=64, width=TINY, n_classes=0, hierarchical=False, dim_z=32)
    assert g.shared is None and g.dim_z == 32
    assert isinstance(g.blocks[0].bn1.norm, torch.nn.BatchNorm2d)
    assert g(torch.randn(2, 32)).shape == (2, 3, 64, 64)


def test_biggan_components_pick_the_reference_layout_by_resolution():
    plugins = load_plugins()
    assert isinstance(plugins.create("model", "biggan_g", resolution=32, width=TINY), BigGANGenerator)
    assert isinstance(plugins.create("model", "biggan_d", resolution=16, width=TINY), BigGANDiscriminator)
    assert isinstance(plugins.create("model", "biggan_g", resolution=128, width=TINY), BigGANImageNetGenerator)
    assert isinstance(plugins.create("model", "biggan_d", resolution=64, width=TINY), BigGANImageNetDiscriminator)


def test_each_layout_refuses_the_other_ones_sizes_and_unknown_options():
    with pytest.raises(ValueError, match="CIFAR layout.*BigGANImageNetGenerator"):
        BigGANGenerator(resolution=64)
    with pytest.raises(ValueError, match="CIFAR layout.*BigGANImageNetDiscriminator"):
        BigGANDiscriminator(resolution=128)
    with pytest.raises(ValueError, match=r"ImageNet layout exists at \[64, 128, 256, 512\]"):
        BigGANImageNetGenerator(resolution=32)
    with pytest.raises(ValueError, match="init must be one of"):
        BigGANImageNetDiscriminator(resolution=64, width=TINY, init="kaiming")
    with pytest.raises(ValueError, match="dim_z must be at least 5"):
        BigGANImageNetGenerator(resolution=64, width=TINY, dim_z=4)


def test_orthogonal_initialisation_gives_orthonormal_rows():
    g = BigGANImageNetGenerator(resolution=64, width=TINY, n_classes=2)
    w = g.blocks[0].conv1.parametrizations.weight.original.detach().flatten(1)  # (out, in*9), out < in*9
    assert torch.allclose(w @ w.T, torch.eye(w.shape[0]), atol=1e-5)


def test_a_sparse_engine_trains_the_imagenet_layout():
    torch.manual_seed(0)
    g = BigGANImageNetGenerator(resolution=64, width=TINY, n_classes=3)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    engine = SparseEngine(g, init_mask(g, allocate(g, 0.2, erdos_renyi_kernel), generator=torch.Generator().manual_seed(0)), opt)
    g(torch.randn(4, g.dim_z), torch.randint(0, 3, (4,))).square().mean().backward()
    opt.step()
    engine.verify()
    assert abs(engine.mask.total_density - 0.2) < 0.01


def test_flop_counts_include_the_attention_matmuls_beside_its_convolutions():
    from maskforge.metrics import flops

    g = BigGANImageNetGenerator(resolution=128, width=1 / 12, n_classes=10).eval()
    counted = flops.layer_flops(g, flops.example_inputs(g, "G"))
    c, hw = g.attention["3"].theta.parametrizations.weight.original.shape[1], 64 * 64  # channels at 64x64
    # queries x keys (C/8 deep) and values x weights (HW/4 deep), 2 FLOPs per multiply-add
    assert counted["attention.3"] == 2 * hw * (c // 8) * (hw // 4) + 2 * (c // 2) * (hw // 4) * hw
    assert counted["attention.3.theta"] == 2 * hw * c * (c // 8)
    assert "blocks.0" not in counted  # a block's work is all in its layers
