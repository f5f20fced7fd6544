"""Registers the losses: ``hinge``, ``non_saturating`` (adversarial) and ``mmd_vgg`` (moment matching)."""

from __future__ import annotations

from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.losses import HingeLoss, MomentMatchingLoss, NonSaturatingLoss, VGGFeatures


def mmd_vgg(arch: str = "vgg19", weights: str | None = None, n_relu: int = 16, tracker: str = "adam",
            lr: float = 1e-5, beta1: float = 0.5, allow_download: bool = False, device="cpu") -> MomentMatchingLoss:
    """MMD moment matching (mean and variance) on the first ``n_relu`` ReLU layers of VGG19(-BN)."""
    features = VGGFeatures(arch, weights, n_relu, allow_download).to(device)
    return MomentMatchingLoss(features, tracker=tracker, lr=lr, beta1=beta1)


@hookimpl
def maskforge_register(registry):
    registry.register("loss", "hinge", HingeLoss)
    registry.register("loss", "non_saturating", NonSaturatingLoss)
    registry.register("loss", "mmd_vgg", mmd_vgg)
