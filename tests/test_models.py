"""The GAN model zoo: published sizes, shapes, conditioning, spectral norm, filters, registry."""

import pytest
import torch

from maskforge import ParamFilter
from maskforge.models import (
    BigGANDiscriminator,
    BigGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    GFMNGenerator,
    SNGANDiscriminator,
    SNGANGenerator,
)
from maskforge.plugin_system.manager import load_plugins

TINY = 1 / 16
SN_SUFFIX = "parametrizations.weight.original"
GENERATORS = [BigGANGenerator, SNGANGenerator, GFMNGenerator, DCGANGenerator]
DISCRIMINATORS = [BigGANDiscriminator, SNGANDiscriminator, DCGANDiscriminator]


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _tiny_cases(classes, resolutions=(16, 32)):
    cases = [(cls, res) for cls in classes for res in resolutions]
    if GFMNGenerator in classes:
        cases.append((GFMNGenerator, 64))
    return pytest.mark.parametrize(
        ("cls", "resolution"), cases, ids=lambda v: getattr(v, "__name__", str(v))
    )


def _labels(model, batch):
    return torch.randint(0, model.n_classes, (batch,)) if model.n_classes else None


@pytest.mark.parametrize(
    ("cls", "published"),
    [
        (BigGANGenerator, 4.30e6),
        (BigGANDiscriminator, 4.21e6),
        (SNGANGenerator, 4.28e6),
        (SNGANDiscriminator, 1.05e6),
    ],
    ids=["biggan_g", "biggan_d", "sngan_g", "sngan_d"],
)
def test_full_size_parameter_count_is_within_2_percent_of_published(cls, published):
    count = _count(cls())
    print(f"{cls.__name__}: {count:,} parameters (published ~{published / 1e6:.2f}M)")
    assert abs(count - published) / published < 0.02


@pytest.mark.parametrize(("resolution", "count"), [(32, 3_319_555), (64, 11_745_539), (128, 43_801_859)])
def test_gfmn_widths_end_at_64_channels_at_every_resolution_as_in_the_reference(resolution, count):
    # IBM/gfmn ResnetG adapts its filter sizes: the last block has 64 channels, doubling towards z
    assert _count(GFMNGenerator(resolution=resolution)) == count


@_tiny_cases(GENERATORS, resolutions=(16, 32))
def test_tiny_generator_outputs_images_of_its_resolution_within_tanh_range(cls, resolution):
    torch.manual_seed(0)
    g = cls(resolution=resolution, width=TINY)
    z = torch.randn(3, g.dim_z)
    x = g(z, _labels(g, 3))
    assert x.shape == (3, g.channels, resolution, resolution)
    assert g.resolution == resolution
    assert x.min() >= -1 and x.max() <= 1


@_tiny_cases(DISCRIMINATORS, resolutions=(16, 32))
def test_tiny_discriminator_outputs_one_logit_per_image(cls, resolution):
    torch.manual_seed(0)
    d = cls(resolution=resolution, width=TINY)
    x = torch.rand(3, d.channels, resolution, resolution) * 2 - 1
    logits = d(x, _labels(d, 3))
    assert logits.shape == (3,)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "cls", [DCGANGenerator, DCGANDiscriminator, BigGANGenerator, BigGANDiscriminator]
)
def test_conditional_models_require_labels_and_unconditional_ones_ignore_them(cls):
    conditional, unconditional = cls(width=TINY, n_classes=10), cls(width=TINY, n_classes=0)
    inputs = (
        torch.randn(2, conditional.dim_z)
        if hasattr(conditional, "dim_z")
        else torch.zeros(2, conditional.channels, conditional.resolution, conditional.resolution)
    )
    with pytest.raises(ValueError, match="class-conditional"):
        conditional(inputs)
    assert conditional(inputs, torch.tensor([1, 2])).shape[0] == 2
    assert unconditional.n_classes == 0
    assert unconditional(inputs).shape[0] == 2


def test_conditional_biggan_generator_output_depends_on_the_label():
    torch.manual_seed(0)
    g = BigGANGenerator(resolution=16, width=TINY, n_classes=10).eval()
    z = torch.randn(1, g.dim_z).repeat(2, 1)
    x = g(z, torch.tensor([0, 7]))
    assert not torch.allclose(x[0], x[1])


@pytest.mark.parametrize(
    ("cls", "has_sn"),
    [
        (BigGANGenerator, True),
        (BigGANDiscriminator, True),
        (SNGANDiscriminator, True),
        (DCGANDiscriminator, True),
        (SNGANGenerator, False),
        (GFMNGenerator, False),
    ],
)
def test_spectral_norm_is_present_exactly_where_specified(cls, has_sn):
    names = [n for n, _ in cls(width=TINY, resolution=16).named_parameters()]
    assert any(SN_SUFFIX in n for n in names) == has_sn


@pytest.mark.parametrize("cls", [BigGANDiscriminator, SNGANDiscriminator, DCGANDiscriminator])
def test_every_discriminator_conv_and_linear_is_spectral_normalised(cls):
    model = cls(width=TINY, resolution=16)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)


@pytest.mark.parametrize("cls", GENERATORS + DISCRIMINATORS)
def test_param_filter_finds_the_conv_linear_embedding_weights(cls):
    model = cls(width=TINY, resolution=16)
    layer_types = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear, torch.nn.Embedding)
    expected = [
        f"{name}.{SN_SUFFIX if hasattr(module, 'parametrizations') else 'weight'}"
        for name, module in model.named_modules()
        if isinstance(module, layer_types)
    ]
    names = ParamFilter().names(model)
    assert names and sorted(names) == sorted(expected)
    if any(SN_SUFFIX in n for n, _ in model.named_parameters()):
        assert any(n.endswith(SN_SUFFIX) for n in names)


def test_param_filter_includes_biggan_class_embeddings():
    names = ParamFilter().names(BigGANGenerator(width=TINY, resolution=16))
    assert any(".gain.weight" in n for n in names) and any(".bias.weight" in n for n in names)


@pytest.mark.parametrize("cls", GENERATORS + DISCRIMINATORS)
@pytest.mark.parametrize("resolution", [24, 2, 0, 48])
def test_bad_resolution_raises_a_one_line_value_error_naming_the_allowed_sizes(cls, resolution):
    with pytest.raises(ValueError, match=r"resolution must be 4 \* 2\*\*n") as err:
        cls(resolution=resolution, width=TINY)
    assert "\n" not in str(err.value) and str(resolution) in str(err.value)


def test_registry_builds_a_tiny_biggan_generator_by_name():
    g = load_plugins().create("model", "biggan_g", width=0.0625, resolution=16)
    assert isinstance(g, BigGANGenerator) and g.resolution == 16
    assert g(torch.randn(2, g.dim_z), torch.tensor([0, 1])).shape == (2, 3, 16, 16)


def test_registry_knows_every_model_name():
    registry = load_plugins().registry
    assert set(registry.names("model")) >= {
        "biggan_g",
        "biggan_d",
        "sngan_g",
        "sngan_d",
        "gfmn_g",
        "dcgan_g",
        "dcgan_d",
    }


def test_sngan_is_initialised_like_gan_lth():
    from maskforge.models import SNGANDiscriminator, SNGANGenerator

    torch.manual_seed(0)
    g, d = SNGANGenerator(), SNGANDiscriminator()
    # Xavier-uniform conv weights: bound sqrt(6 / (fan_in + fan_out))
    conv = g.blocks[0].conv1
    bound = (6.0 / (2 * 256 * 9)) ** 0.5
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.95 * bound
    # PyTorch's default biases (U(+-1/sqrt(fan_in))), not zeros, on G's and D's convs
    for c, fan_in in ((conv, 256 * 9), (d.blocks[0].conv1, 3 * 9)):
        assert 0.9 / fan_in**0.5 < c.bias.abs().max() <= 1 / fan_in**0.5
    # linear layers keep PyTorch's default (bound 1/sqrt(fan_in)), not Xavier
    xavier_bound = (6.0 / (128 + 4 * 4 * 256)) ** 0.5  # 0.038: what Xavier would allow
    assert xavier_bound < g.linear.weight.abs().max() <= 1 / 128**0.5
    d_linear = d.linear.parametrizations.weight.original
    assert 0.9 / 128**0.5 < d_linear.abs().max() <= 1 / 128**0.5
    # batch-norm scales N(1, 0.02), shifts 0
    scales = torch.cat([m.weight for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(scales.mean().item() - 1) < 0.01 and 0.015 < scales.std().item() < 0.025
    assert all(bool((m.bias == 0).all()) for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))
