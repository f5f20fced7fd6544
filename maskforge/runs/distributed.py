"""Data-parallel runs with PyTorch's own engine: ``torchrun --nproc_per_node N -m maskforge.cli run ...``.

What is synchronised, and how:

* gradients — DistributedDataParallel all-reduces them during backward, so every rank's
  ``p.grad`` is the global-batch gradient *before* the strategy looks at it: gradient growth
  scores are identical on every rank;
* random choices of strategies (random growth, random init masks) — each strategy's generator is
  seeded from the recipe seed alone, identically on every rank, and draws the same numbers;
* data and latents — seeded with the seed *and the rank*, so ranks see different batches;
* masks — therefore identical on every rank; ``train.verify_masks=true`` checks a hash of every
  network's mask across ranks after every update and fails naming the step if they differ.

Only rank 0 writes the run directory (checkpoints, samples, metrics, plots).
"""

from __future__ import annotations

import hashlib
import os

import attrs
import torch
import torch.distributed as dist

from maskforge.errors import MaskforgeError
from maskforge.sparsity.mask import Mask


@attrs.frozen
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> DistInfo:
    """Join the process group torchrun set up (``WORLD_SIZE`` > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(rank=int(os.environ["RANK"]), world_size=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and device not in ("cpu",)
        if use_nccl:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return info


def mask_digest(mask: Mask) -> str:
    """SHA-256 of a mask's names, shapes and bits."""
    h = hashlib.sha256()
    for name, bits in mask.items():
        h.update(name.encode())
        h.update(str(tuple(bits.shape)).encode())
        h.update(bits.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def verify_identical_masks(mask: Mask, network: str, step: int) -> None:
    """Raise unless every rank holds the same mask for ``network``."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    digests = [None] * dist.get_world_size()
    dist.all_gather_object(digests, mask_digest(mask))
    if len(set(digests)) > 1:
        raise MaskforgeError(f"masks of {network} differ across ranks after the update at step {step}: {digests}")
