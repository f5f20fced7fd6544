"""Adversarial and moment-matching losses, VGG weights resolution, data sources."""

import math

import pytest
import torch
from PIL import Image

from maskforge.data import sources
from maskforge.losses import (
    HingeLoss,
    MomentMatchingLoss,
    NonSaturatingLoss,
    VGGFeatures,
    resolve_weights,
)
from maskforge.losses.vgg_features import FILES, WeightsNotFoundError


def test_hinge_and_non_saturating_losses_match_their_formulas():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert HingeLoss().discriminator(real, fake).item() == pytest.approx((0 + 0.5) / 2 + (0 + 1.5) / 2)
    assert HingeLoss().generator(fake).item() == pytest.approx(0.75)
    sp = lambda x: math.log1p(math.exp(x))
    assert NonSaturatingLoss().discriminator(real, fake).item() == pytest.approx((sp(-2) + sp(-0.5)) / 2 + (sp(-2) + sp(0.5)) / 2)
    assert NonSaturatingLoss().generator(fake).item() == pytest.approx((sp(2) + sp(-0.5)) / 2)


def test_vgg_features_stay_in_eval_mode_and_are_frozen():
    features = VGGFeatures(weights="random", n_relu=4)
    features.train()
    assert not features.training and not any(m.training for m in features.modules())
    assert not any(p.requires_grad for p in features.parameters())
    outs = features(torch.rand(2, 1, 16, 16) * 2 - 1)  # grey images are expanded to RGB
    assert len(outs) == 4 and all(o.shape[0] == 2 for o in outs)


def test_vgg_bn_statistics_do_not_change_when_features_are_computed():
    features = VGGFeatures(arch="vgg19_bn", weights="random", n_relu=2)
    bn = next(m for m in features.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    features.train()
    features(torch.rand(4, 3, 16, 16))
    assert torch.equal(bn.running_mean, before)


@pytest.mark.parametrize("tracker", ["adam", "ema"])
def test_moment_matching_value_is_eq3_and_gradients_reach_the_generator(tracker):
    features = VGGFeatures(weights="random", n_relu=3)
    loss_fn = MomentMatchingLoss(features, tracker=tracker)
    real = torch.rand(8, 3, 16, 16) * 2 - 1
    fake = (torch.rand(8, 3, 16, 16) * 2 - 1).requires_grad_(True)
    loss = loss_fn(real, fake)
    with torch.no_grad():
        expected = 0.0
        for r, f in zip(features(real), features(fake)):
            expected += (r.mean(0) - f.mean(0)).pow(2).sum() + (r.var(0, unbiased=False) - f.var(0, unbiased=False)).pow(2).sum()
    if tracker == "adam":
        assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_adam_tracker_state_round_trips():
    features = VGGFeatures(weights="random", n_relu=2)
    a = MomentMatchingLoss(features)
    a(torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16))
    b = MomentMatchingLoss(features)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict()["tensors"], b.state_dict()["tensors"]))


def test_weights_are_found_by_path_then_env_dir_then_torch_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MASKFORGE_WEIGHTS_DIR", raising=False)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / FILES["vgg19"]).write_bytes(b"x")
    assert resolve_weights("vgg19", None) == cache / FILES["vgg19"]
    env = tmp_path / "weights"
    env.mkdir()
    (env / FILES["vgg19"]).write_bytes(b"x")
    monkeypatch.setenv("MASKFORGE_WEIGHTS_DIR", str(env))
    assert resolve_weights("vgg19", None) == env / FILES["vgg19"]
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    assert resolve_weights("vgg19", str(explicit)) == explicit
    assert resolve_weights("vgg19", "random") is None


def test_missing_weights_name_the_file_and_every_place_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("MASKFORGE_WEIGHTS_DIR", str(tmp_path / "w"))
    with pytest.raises(WeightsNotFoundError, match=r"vgg19_bn-c79401a0.pth not found \(looked in: .*w/vgg19_bn.*torch/hub/checkpoints"):
        resolve_weights("vgg19_bn", None)


def test_digits_source_gives_images_in_range_with_labels_and_is_seeded():
    source = sources.digits(resolution=32, channels=3)
    a, ya = source.sample(16, torch.Generator().manual_seed(0))
    b, yb = source.sample(16, torch.Generator().manual_seed(0))
    assert a.shape == (16, 3, 32, 32) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and torch.equal(ya, yb) and source.n_classes == 10


def test_image_folder_source_reads_local_images(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (20, 20), (i * 80, 10, 200)).save(tmp_path / cls / f"{i}.png")
    source = sources.image_folder(str(tmp_path), resolution=8)
    images, labels = source.sample(5, torch.Generator().manual_seed(0))
    assert images.shape == (5, 3, 8, 8) and source.n_classes == 2 and set(labels.tolist()) <= {0, 1}


@pytest.mark.parametrize("factory, message", [
    (lambda root: sources.cifar10(root), "CIFAR-10 not found in"),
    (lambda root: sources.image_folder(root), "does not exist"),
    (lambda root: sources.celeba(root), "CelebA not found in"),
    (lambda root: sources.lsun(root), "LSUN bedroom_train not found in"),
])
def test_missing_datasets_say_where_they_looked_and_how_to_point_at_them(tmp_path, factory, message):
    with pytest.raises(sources.DataNotFoundError, match=message) as info:
        factory(str(tmp_path / "nothing"))
    assert "data.root" in str(info.value) or "--set" in str(info.value)


def test_tensorboard_plugin_forwards_metrics_when_tensorboard_is_installed(tmp_path, monkeypatch):
    import maskforge_plugins.tensorboard_log as tb

    written = []

    class FakeWriter:
        def add_scalar(self, name, value, step):
            written.append((name, value, step))

        def close(self):
            written.append("closed")

    monkeypatch.setattr(tb, "_summary_writer", lambda run_dir: FakeWriter())
    tb.maskforge_run_start(run_dir=tmp_path, config={})
    tb.maskforge_step_end(step=3, metrics={"g_loss": 0.5})
    tb.maskforge_run_end(run_dir=tmp_path, metrics={})
    assert written == [("g_loss", 0.5, 3), "closed"]
