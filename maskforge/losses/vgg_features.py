"""VGG19(-BN) features for moment matching, with weights from a local file.

Weights are found, in order: an explicit ``weights`` path (recipe field); the directory named by
``MASKFORGE_WEIGHTS_DIR`` holding torchvision's file name (``vgg19-dcbb9e9d.pth`` or
``vgg19_bn-c79401a0.pth``); torchvision's cache (``$TORCH_HOME/hub/checkpoints``). A download
happens only with ``allow_download=True``; otherwise a missing file is a one-line error naming
the file and where it was looked for. ``weights="random"`` uses random weights (tests only).

The network is always in eval mode (batch-norm statistics never change the loss) and its
parameters never require gradients. Inputs in [-1, 1] are mapped to ImageNet normalisation.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from maskforge.errors import MaskforgeError

WEIGHTS_ENV = "MASKFORGE_WEIGHTS_DIR"
FILES = {"vgg19": "vgg19-dcbb9e9d.pth", "vgg19_bn": "vgg19_bn-c79401a0.pth"}
URLS = {name: f"https://download.pytorch.org/models/{fname}" for name, fname in FILES.items()}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class WeightsNotFoundError(MaskforgeError, FileNotFoundError):
    """Pretrained weights are not on disk and downloading is not allowed."""


def _torch_cache() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


def resolve_weights(arch: str, weights: str | None, allow_download: bool = False) -> Path | None:
    """The local file holding ``arch``'s ImageNet weights (None for ``weights="random"``)."""
    if weights == "random":
        return None
    if arch not in FILES:
        raise ValueError(f"unknown VGG architecture {arch!r}; use 'vgg19' or 'vgg19_bn'")
    fname = FILES[arch]
    looked: list[Path] = []
    if weights:
        path = Path(weights).expanduser()
        if path.is_file():
            return path
        looked.append(path)
    if os.environ.get(WEIGHTS_ENV):
        looked.append(Path(os.environ[WEIGHTS_ENV]).expanduser() / fname)
    looked.append(_torch_cache() / fname)
    for path in looked[1 if weights else 0:]:
        if path.is_file():
            return path
    if allow_download:
        target = _torch_cache() / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URLS[arch], str(target))
        return target
    raise WeightsNotFoundError(
        f"{arch} weights file {fname} not found (looked in: {', '.join(str(p) for p in looked)}); "
        f"put it there, set {WEIGHTS_ENV}=DIR, set the recipe's loss weights path, or allow downloading"
    )


class VGGFeatures(nn.Module):
    """Outputs of the first ``n_relu`` ReLU layers of VGG19(-BN), flattened per sample."""

    def __init__(self, arch: str = "vgg19", weights: str | None = None, n_relu: int = 16, allow_download: bool = False):
        super().__init__()
        path = resolve_weights(arch, weights, allow_download)
        # Only the convolutional part: the 120M-parameter classifier is never needed.
        features = make_layers(cfgs["E"], batch_norm=arch == "vgg19_bn")
        if path is not None:
            state = torch.load(path, map_location="cpu", weights_only=True)
            prefix = "features."
            features.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        relus = [i for i, m in enumerate(features) if isinstance(m, nn.ReLU)]
        if not 1 <= n_relu <= len(relus):
            raise ValueError(f"n_relu must be in [1, {len(relus)}] for {arch}, got {n_relu}")
        self.features = features[: relus[n_relu - 1] + 1]
        for m in self.features:
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.relu_indices = relus[:n_relu]
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always eval: the feature network is a fixed kernel (its BN statistics must not move)."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` (B, C, H, W) in [-1, 1] (C = 1 is repeated to RGB) -> list of (B, D_j)."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        x = ((images + 1.0) / 2.0 - self.mean) / self.std
        outputs = []
        wanted = set(self.relu_indices)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                outputs.append(x.flatten(1))
        return outputs
