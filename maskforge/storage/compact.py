"""Lossless compact checkpoints of sparse state dicts.

A sparse model's ``state_dict()`` is mostly zeros; :func:`compact_state_dict` stores each tensor
in the smallest of a few encodings and :func:`expand_state_dict` restores it bit for bit: same
dtype, same shape, same bytes. Values are moved through an integer view of the same width, never
through arithmetic, so NaN payloads survive, and so does the sign of zero: masking by
multiplication (``w * mask``, what :class:`~maskforge.sparsity.engine.SparseEngine` and
:meth:`~maskforge.sparsity.mask.Mask.apply_` do) leaves ``-0.0`` wherever a negative weight was masked,
and those are recorded too (see ``"negative_zeros"`` below). Pass ``keep_zero_signs=False`` to
store every ``-0.0`` as ``+0.0`` instead: numerically the same tensor (``torch.equal`` holds),
and smaller when about half the zeros are negative, but no longer bit-identical.

Format ``"maskforge.compact/1"``: a plain dict, loadable with ``torch.load(weights_only=True)``::

    {
        "format": "maskforge.compact/1",
        "tensors": {name: entry, ...},        # every tensor of the state dict
        "other": {name: value, ...},          # non-tensor entries, stored as they are
        "order": [name, ...],                 # every key of the state dict, in its order
        "metadata": {prefix: {key: value}},   # the state dict's ``_metadata`` (module versions), if any
    }

Every ``entry`` is a dict with ``"encoding"``, ``"dtype"`` (the torch dtype's name, e.g.
``"float32"``) and ``"shape"`` (a list of ints). ``"dense"`` entries hold the tensor itself in
``"values"``. The sparse entries hold the entries that are not zero, in flat (row-major) order, in
``"values"`` (a 1-D tensor of the same dtype), and their flat positions in one of three ways:

``"bitmask"``
    ``"mask"``: uint8, :func:`~maskforge.sparsity.packing.pack_bits` of the flat nonzero pattern
    (``ceil(numel / 8)`` bytes).
``"index"``
    ``"indices"``: the ascending flat positions as int16 (when ``numel <= 32768``), int32 or int64.
``"gaps"``
    ``"gaps"``: uint8 distances between consecutive positions, the first one counted from
    position -1. A distance ``d`` is written as ``(d - 1) // 255`` zero bytes, each meaning
    "skip 255", then the byte ``d - 255 * ((d - 1) // 255)`` (1..255): at 95% sparsity about one
    byte per stored value.

"Zero" means all bits zero, except for float16 / bfloat16 / float32 / float64, where ``-0.0``
(only the sign bit set) is a zero as well; a sparse entry of such a tensor that has negative
zeros carries ``"negative_zeros"``: a dict with its own ``"encoding"`` (``"bitmask"``,
``"index"`` or ``"gaps"``) and field, as above, giving the flat positions of the ``-0.0`` entries.

The encoder counts the bytes of each choice (plus a fixed cost per stored tensor) and keeps the
smallest; ties go to the earlier one in the order dense, bitmask, index, gaps. Tensors whose
dtype has no integer view of the same width (quantized, sub-byte) and non-strided tensors are
always stored dense. :func:`save_compact` writes the encoding atomically
(:func:`maskforge.storage.checkpoint.save_atomic`); :func:`load_compact` reads it back with
``weights_only=True`` and expands it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from maskforge.sparsity.packing import pack_bits, unpack_bits
from maskforge.storage.checkpoint import load, save_atomic

FORMAT = "maskforge.compact/1"
ENCODINGS = ("dense", "bitmask", "index", "gaps")
_POSITION_ENCODINGS = ENCODINGS[1:]

#: Bytes charged for every tensor stored besides the first one of an entry (a record in the
#: checkpoint's zip archive), so that tiny tensors are not split in two for nothing.
_PER_TENSOR_COST = 64
_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
#: Float dtypes whose ``-0.0`` counts as a zero (recorded in ``"negative_zeros"``).
_SIGNED_ZERO_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype_from(name: object) -> torch.dtype:
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if isinstance(dtype, torch.dtype):
        return dtype
    raise ValueError(f"compact state dict names an unknown dtype {name!r}")


def _words(flat: torch.Tensor) -> torch.Tensor | None:
    """A flat tensor's bytes as integers of its width: shape (numel,) or (numel, r); None if impossible."""
    size = flat.element_size()
    try:
        if size in _INT_OF_SIZE:
            return flat.view(_INT_OF_SIZE[size])
        if size % 8 == 0:
            return flat.view(torch.int64).reshape(flat.numel(), size // 8)
    except (RuntimeError, TypeError):
        return None
    return None


# -- flat position sets ----------------------------------------------------------------------------


def _gap_bytes(positions: torch.Tensor) -> torch.Tensor:
    """The uint8 gap stream of ascending flat positions (see the module docstring)."""
    previous = torch.cat([positions.new_full((1,), -1), positions[:-1]])
    distance = positions - previous  # >= 1
    skips = torch.div(distance - 1, 255, rounding_mode="floor")
    last = distance - 255 * skips  # 1..255
    out = torch.zeros(int(positions.numel() + skips.sum()), dtype=torch.uint8, device=positions.device)
    out[torch.cumsum(skips + 1, 0) - 1] = last.to(torch.uint8)
    return out


def _gap_positions(gaps: torch.Tensor) -> torch.Tensor:
    """Ascending int64 flat positions from a uint8 gap stream."""
    if gaps.dtype != torch.uint8:
        raise ValueError(f"gap stream must be uint8, got {gaps.dtype}")
    steps = gaps.reshape(-1).to(torch.int64)
    real = steps != 0
    steps = torch.where(real, steps, torch.full_like(steps, 255))
    return torch.cumsum(steps, 0)[real] - 1


def _index_dtype(numel: int) -> torch.dtype:
    return torch.int16 if numel <= 1 << 15 else torch.int32 if numel <= 1 << 31 else torch.int64


def _position_costs(count: int, numel: int) -> dict[str, int]:
    """Bytes of each position encoding of ``count`` positions (gaps: a lower bound)."""
    return {
        "bitmask": (numel + 7) // 8,
        "index": count * _index_dtype(numel).itemsize,
        "gaps": count,
    }


def _encode_positions(pattern: torch.Tensor, count: int, numel: int) -> tuple[dict[str, Any], int]:
    """The smallest encoding of the flat bool ``pattern`` (``count`` entries set) and its size."""
    costs = _position_costs(count, numel)
    if costs["bitmask"] <= min(costs["index"], costs["gaps"]):
        return {"encoding": "bitmask", "mask": pack_bits(pattern)}, costs["bitmask"]
    positions = pattern.nonzero().squeeze(1)
    gaps = _gap_bytes(positions) if costs["gaps"] < costs["index"] else None
    if gaps is not None and gaps.numel() < min(costs["bitmask"], costs["index"]):
        return {"encoding": "gaps", "gaps": gaps}, gaps.numel()
    if costs["index"] < costs["bitmask"]:
        return {"encoding": "index", "indices": positions.to(_index_dtype(numel))}, costs["index"]
    return {"encoding": "bitmask", "mask": pack_bits(pattern)}, costs["bitmask"]


def _decode_positions(name: str, fields: Mapping[str, Any], numel: int) -> torch.Tensor:
    encoding = fields.get("encoding")
    try:
        if encoding == "bitmask":
            return unpack_bits(fields["mask"], (numel,)).nonzero().squeeze(1)
        if encoding == "index":
            return fields["indices"].reshape(-1).to(torch.int64)
        if encoding == "gaps":
            return _gap_positions(fields["gaps"])
    except KeyError as err:
        raise ValueError(f"compact entry {name!r} is malformed: its {encoding!r} positions lack {err}") from None
    raise ValueError(f"compact entry {name!r} has unknown encoding {encoding!r}; expected one of {ENCODINGS}")


# -- one tensor ------------------------------------------------------------------------------------


def _encode(tensor: torch.Tensor, keep_zero_signs: bool) -> dict[str, Any]:
    header = {"dtype": _dtype_name(tensor.dtype), "shape": list(tensor.shape)}
    dense = {"encoding": "dense", **header, "values": tensor}
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.numel() == 0:
        return dense
    flat = tensor.contiguous().reshape(-1)
    words = _words(flat)
    if words is None:
        return dense
    numel, size = flat.numel(), flat.element_size()
    zero_bits = words == 0 if words.dim() == 1 else (words == 0).all(dim=1)
    negative_zero = None
    if tensor.dtype in _SIGNED_ZERO_DTYPES:
        negative_zero = words == torch.iinfo(words.dtype).min  # only the sign bit set
        nonzero = ~(zero_bits | negative_zero)
        n_negative = int(torch.count_nonzero(negative_zero))
        if n_negative == 0 or not keep_zero_signs:
            negative_zero = None
    else:
        nonzero = ~zero_bits
    nnz = int(torch.count_nonzero(nonzero))
    dense_cost = numel * size
    if min(_position_costs(nnz, numel).values()) + nnz * size + _PER_TENSOR_COST >= dense_cost:
        return dense
    where, cost = _encode_positions(nonzero, nnz, numel)
    cost += nnz * size + _PER_TENSOR_COST
    entry = {**header, **where, "values": words[nonzero].reshape(-1).view(tensor.dtype)}
    if negative_zero is not None:
        negative_where, negative_cost = _encode_positions(negative_zero, n_negative, numel)
        cost += negative_cost + _PER_TENSOR_COST
        entry["negative_zeros"] = negative_where
    return dense if cost >= dense_cost else entry


def _decode(name: str, entry: Mapping[str, Any]) -> torch.Tensor:
    if not isinstance(entry, Mapping) or not {"encoding", "dtype", "shape", "values"} <= entry.keys():
        raise ValueError(f"compact entry {name!r} is malformed (it needs encoding, dtype, shape and values); was it written by save_compact?")
    dtype, shape, values = _dtype_from(entry["dtype"]), tuple(int(s) for s in entry["shape"]), entry["values"]
    if entry["encoding"] == "dense":
        if values.dtype != dtype or tuple(values.shape) != shape:
            raise ValueError(f"compact entry {name!r}: its dense tensor is {values.dtype} {tuple(values.shape)}, not {dtype} {shape}")
        return values
    numel = 1
    for size in shape:
        numel *= size
    if values.dtype != dtype:
        raise ValueError(f"compact entry {name!r}: values are {values.dtype}, not {dtype}")
    positions = _decode_positions(name, entry, numel)
    if positions.numel() != values.numel():
        raise ValueError(f"compact entry {name!r}: {positions.numel()} positions but {values.numel()} values; the file is corrupt")
    out = torch.zeros(numel, dtype=dtype, device=values.device)
    words = _words(out)
    if words is None:
        raise ValueError(f"compact entry {name!r}: dtype {dtype} cannot be stored sparse")
    negative = None
    if "negative_zeros" in entry:
        if dtype not in _SIGNED_ZERO_DTYPES:
            raise ValueError(f"compact entry {name!r}: negative zeros recorded for {dtype}")
        negative = _decode_positions(name, entry["negative_zeros"], numel)
    for at in (positions, negative):
        if at is not None and at.numel() and (int(at.min()) < 0 or int(at.max()) >= numel):
            raise ValueError(f"compact entry {name!r}: a position lies outside shape {shape}; the file is corrupt")
    words[positions] = values.reshape(-1).view(words.dtype).reshape((positions.numel(), *words.shape[1:]))
    if negative is not None:
        words[negative] = torch.iinfo(words.dtype).min
    return out.reshape(shape)


# -- state dicts -----------------------------------------------------------------------------------


def compact_state_dict(state_dict: Mapping[str, Any], *, keep_zero_signs: bool = True) -> dict[str, Any]:
    """The compact encoding of ``state_dict`` (format in the module docstring).

    Bit-identical after :func:`expand_state_dict`; with ``keep_zero_signs=False`` every ``-0.0``
    comes back as ``+0.0`` (equal values, not equal bits).
    """
    tensors: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for name, value in state_dict.items():
        if isinstance(value, torch.Tensor):
            tensors[name] = _encode(value.detach(), keep_zero_signs)
        else:
            other[name] = value
    compact: dict[str, Any] = {"format": FORMAT, "tensors": tensors, "other": other, "order": list(state_dict)}
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        compact["metadata"] = {prefix: dict(meta) for prefix, meta in metadata.items()}
    return compact


def expand_state_dict(compact: Mapping[str, Any]) -> OrderedDict[str, Any]:
    """Inverse of :func:`compact_state_dict`: the state dict (an ``OrderedDict``, with its ``_metadata``)."""
    if not isinstance(compact, Mapping) or compact.get("format") != FORMAT:
        found = compact.get("format") if isinstance(compact, Mapping) else type(compact).__name__
        raise ValueError(f"not a compact state dict (format {found!r}, expected {FORMAT!r}); write it with save_compact")
    tensors, other = compact["tensors"], compact.get("other", {})
    out: OrderedDict[str, Any] = OrderedDict()
    for name in compact.get("order", [*tensors, *other]):
        out[name] = _decode(name, tensors[name]) if name in tensors else other[name]
    if "metadata" in compact:
        out._metadata = OrderedDict((prefix, dict(meta)) for prefix, meta in compact["metadata"].items())  # type: ignore[attr-defined]
    return out


def save_compact(state_dict: Mapping[str, Any], path: Path | str, *, keep_zero_signs: bool = True) -> Path:
    """Write the compact encoding of ``state_dict`` to ``path`` atomically; returns the path."""
    return save_atomic(compact_state_dict(state_dict, keep_zero_signs=keep_zero_signs), path)


def load_compact(path: Path | str, map_location: str | torch.device = "cpu") -> OrderedDict[str, Any]:
    """Read a file written by :func:`save_compact` (``weights_only=True``) and expand it."""
    return expand_state_dict(load(path, map_location=map_location))
