"""A small classifier trained on the embedded digits themselves.

Used to judge samples of digits runs: the share of class-conditional samples it labels with the
class they were generated for ("label agreement"). It is *not* an Inception network and its
numbers are not comparable to FID/IS on natural images; outputs that use it say so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from maskforge.data.digits import load_digits


def digits_classifier_net(width: int = 32) -> nn.Module:
    """A small conv net for 16x16 single-channel digits (10 logits)."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * 4 * 4, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def train_digits_classifier(steps: int = 400, seed: int = 0) -> tuple[nn.Module, float]:
    """Train on 1497 digits, return the model (eval mode) and its accuracy on the other 300."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    images, labels = load_digits(16)
    order = torch.randperm(len(images), generator=gen)
    test, train = order[:300], order[300:]
    model = digits_classifier_net()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(steps):
        batch = train[torch.randint(len(train), (64,), generator=gen)]
        # Small random shifts make the classifier judge shapes, not exact pixel positions.
        x = torch.roll(images[batch], shifts=tuple(torch.randint(-1, 2, (2,), generator=gen).tolist()), dims=(2, 3))
        loss = F.cross_entropy(model(x), labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(images[test]).argmax(1) == labels[test]).float().mean())
    return model, accuracy


@torch.no_grad()
def label_agreement(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` (B, 1, 16, 16) in [-1, 1] that ``classifier`` assigns to ``labels``."""
    if images.shape[1] != 1:
        images = images.mean(1, keepdim=True)
    if images.shape[-1] != 16:
        images = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False)
    return float((classifier(images).argmax(1) == labels).float().mean())
