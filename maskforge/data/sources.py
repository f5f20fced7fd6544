"""Image sources for runs: the embedded digits, CIFAR-10, any image folder, CelebA, LSUN.

An :class:`ImageSource` yields random batches ``(images in [-1, 1], labels)`` from a seeded
generator, so a resumed run draws the same batches. Datasets other than the embedded digits come
from a local ``root`` through torchvision; they are downloaded only with ``download=True``.
A missing dataset is a one-line :class:`DataNotFoundError` naming where it looked and how to
point at the data.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from maskforge.data.digits import load_digits
from maskforge.errors import MaskforgeError


class DataNotFoundError(MaskforgeError, FileNotFoundError):
    """The dataset is not under its root and downloading is off."""


class ImageSource:
    """Random batches of images in [-1, 1] with integer labels (0 when unlabelled)."""

    def __init__(self, name: str, images=None, labels=None, dataset=None, n_classes: int = 0,
                 resolution: int = 32, channels: int = 3):
        self.name = name
        self._images, self._labels, self._dataset = images, labels, dataset
        self.n_classes = n_classes
        self.resolution = resolution
        self.channels = channels

    def __len__(self) -> int:
        return len(self._images) if self._images is not None else len(self._dataset)

    def _fit(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear",
                                   align_corners=False, antialias=images.shape[-1] > self.resolution)
        if images.shape[1] != self.channels:
            images = images.mean(1, keepdim=True) if self.channels == 1 else images.expand(-1, self.channels, -1, -1)
        return images.clamp(-1.0, 1.0)

    def sample(self, batch_size: int, generator: torch.Generator, device: torch.device | str = "cpu"):
        """``(images (B, C, R, R), labels (B,))`` drawn uniformly with ``generator``."""
        index = torch.randint(len(self), (batch_size,), generator=generator)
        if self._images is not None:
            images, labels = self._images[index], self._labels[index]
        else:
            items = [self._dataset[int(i)] for i in index]
            images = torch.stack([x for x, _ in items]) * 2.0 - 1.0
            labels = torch.tensor([int(y) if not torch.is_tensor(y) or y.numel() == 1 else 0 for _, y in items])
        return self._fit(images.float()).to(device), labels.to(device)

    def all_images(self, limit: int | None = None, seed: int | None = None) -> torch.Tensor:
        """Up to ``limit`` images (reference statistics for evaluation): in order, or — with a
        ``seed`` and fewer than all asked for — a seeded random subset, so a dataset stored by class
        (an image folder) is sampled across its classes."""
        n = len(self) if limit is None else min(limit, len(self))
        if seed is not None and n < len(self):
            order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        else:
            order = torch.arange(n)
        if self._images is not None:
            return self._fit(self._images[order].float())
        return self._fit(torch.stack([self._dataset[int(i)][0] for i in order]) * 2.0 - 1.0)


def digits(root: str = "", resolution: int = 16, channels: int = 1, download: bool = False) -> ImageSource:
    """scikit-learn's bundled 8x8 digits (no download), upsampled; 10 classes."""
    images, labels = load_digits(max(8, resolution))
    return ImageSource("digits", images, labels, n_classes=10, resolution=resolution, channels=channels)


def _root(root: str, what: str, flag_hint: str) -> Path:
    if not root:
        raise DataNotFoundError(f"{what} needs a local root directory; point at it with --set data.root=DIR{flag_hint}")
    return Path(root).expanduser()


def cifar10(root: str = "", resolution: int = 32, channels: int = 3, download: bool = False) -> ImageSource:
    """CIFAR-10 training set from ``root`` (torchvision layout ``root/cifar-10-batches-py``)."""
    from torchvision.datasets import CIFAR10

    path = _root(root or str(Path.home() / ".cache" / "maskforge" / "cifar10"), "CIFAR-10", "")
    try:
        ds = CIFAR10(str(path), train=True, download=download)
    except RuntimeError:
        raise DataNotFoundError(
            f"CIFAR-10 not found in {path / 'cifar-10-batches-py'}; put the python version of CIFAR-10 there, "
            "point at it with --set data.root=DIR, or allow downloading with --set data.download=true"
        ) from None
    images = torch.as_tensor(ds.data).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    labels = torch.as_tensor(ds.targets)
    return ImageSource("cifar10", images, labels, n_classes=10, resolution=resolution, channels=channels)


def _transform(resolution: int):
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(resolution), transforms.CenterCrop(resolution), transforms.ToTensor()])


def image_folder(root: str = "", resolution: int = 64, channels: int = 3, download: bool = False) -> ImageSource:
    """Any folder of images, one sub-folder per class (torchvision ``ImageFolder``)."""
    from torchvision.datasets import ImageFolder

    path = _root(root, "the image-folder dataset", "")
    if not path.is_dir():
        raise DataNotFoundError(f"image folder {path} does not exist; point at it with --set data.root=DIR")
    try:
        ds = ImageFolder(str(path), transform=_transform(resolution))
    except (FileNotFoundError, RuntimeError) as err:
        raise DataNotFoundError(f"no images found under {path} ({err}); it must hold one sub-folder of images per class") from None
    return ImageSource("folder", dataset=ds, n_classes=len(ds.classes), resolution=resolution, channels=channels)


def celeba(root: str = "", resolution: int = 64, channels: int = 3, download: bool = False) -> ImageSource:
    """CelebA (aligned, torchvision layout ``root/celeba``); unconditional."""
    from torchvision.datasets import CelebA

    path = _root(root, "CelebA", " (the folder that contains celeba/)")
    try:
        ds = CelebA(str(path), split="train", target_type=[], transform=_transform(resolution), download=download)
    except RuntimeError:
        raise DataNotFoundError(f"CelebA not found in {path / 'celeba'}; put it there or point at it with --set data.root=DIR") from None
    return ImageSource("celeba", dataset=_Unlabelled(ds), resolution=resolution, channels=channels)


def lsun(root: str = "", resolution: int = 64, channels: int = 3, download: bool = False, classes: str = "bedroom_train") -> ImageSource:
    """LSUN (lmdb, torchvision layout); torchvision cannot download it."""
    from torchvision.datasets import LSUN

    path = _root(root, "LSUN", "")
    try:
        ds = LSUN(str(path), classes=[classes], transform=_transform(resolution))
    except Exception as err:  # noqa: BLE001 - LSUN/lmdb raise assorted types for a missing database; reraised with the type
        raise DataNotFoundError(f"LSUN {classes} not found in {path} ({type(err).__name__}); point at it with --set data.root=DIR") from None
    return ImageSource("lsun", dataset=ds, resolution=resolution, channels=channels)


class _Unlabelled:
    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        item = self.ds[i]
        return (item[0] if isinstance(item, tuple) else item), 0
