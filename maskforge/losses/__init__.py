"""Losses: adversarial (hinge, non-saturating) and MMD moment matching on VGG features."""

from maskforge.losses.adversarial import AdversarialLoss, HingeLoss, NonSaturatingLoss
from maskforge.losses.moment_matching import MomentMatchingLoss
from maskforge.losses.vgg_features import VGGFeatures, resolve_weights

__all__ = ["AdversarialLoss", "HingeLoss", "MomentMatchingLoss", "NonSaturatingLoss", "VGGFeatures", "resolve_weights"]
