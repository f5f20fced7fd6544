"""Bit-packing of boolean tensors: 8 mask entries per byte.

Packing is little-endian within a byte (entry ``8*i + j`` is bit ``j`` of byte ``i``) and is
done with torch ops, so it runs on whatever device the mask lives on.
"""

from __future__ import annotations

import torch

_BIT_WEIGHTS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)


def pack_bits(mask: torch.Tensor) -> torch.Tensor:
    """Pack a boolean tensor of any shape into a flat uint8 tensor of ``ceil(numel / 8)`` bytes."""
    if mask.dtype != torch.bool:
        raise TypeError(f"pack_bits expects a bool tensor, got {mask.dtype}")
    flat = mask.reshape(-1)
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    weights = _BIT_WEIGHTS.to(flat.device)
    return (flat.view(-1, 8).to(torch.uint8) * weights).sum(dim=1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: a bool tensor of ``shape`` from its packed bytes."""
    if packed.dtype != torch.uint8:
        raise TypeError(f"unpack_bits expects a uint8 tensor, got {packed.dtype}")
    numel = 1
    for size in shape:
        numel *= int(size)
    if packed.numel() != (numel + 7) // 8:
        raise ValueError(
            f"packed mask has {packed.numel()} bytes but shape {tuple(shape)} needs "
            f"{(numel + 7) // 8}; the mask state is truncated or belongs to another model"
        )
    weights = _BIT_WEIGHTS.to(packed.device)
    bits = (packed.reshape(-1, 1) & weights) != 0
    return bits.reshape(-1)[:numel].reshape(tuple(shape))
