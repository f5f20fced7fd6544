"""The embedded default dataset: scikit-learn's bundled handwritten digits.

1797 grey 8x8 images of the digits 0-9 (shipped inside scikit-learn, no download), upsampled
bilinearly to ``size`` x ``size`` and scaled to [-1, 1] (the range of a tanh generator).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def load_digits(size: int = 16, *, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(1797, 1, size, size)`` in [-1, 1] (float32) and labels ``(1797,)`` (int64)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
        raise ImportError("the embedded digits dataset needs scikit-learn: pip install scikit-learn") from err
    if size < 8:
        raise ValueError(f"digits size must be >= 8 pixels, got {size}")
    bunch = sklearn_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [0, 1]
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = images.clamp(0.0, 1.0) * 2.0 - 1.0
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return images.to(device), labels.to(device)
