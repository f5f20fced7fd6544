"""The Mask: named boolean tensors keyed by fully qualified parameter name, with set algebra,
counting, model helpers and bit-packed storage (see :class:`Mask`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from maskforge.errors import MaskMismatchError
from maskforge.sparsity.packing import pack_bits, unpack_bits

STATE_FORMAT = "maskforge.mask/1"


class Mask(Mapping[str, torch.Tensor]):
    """Named boolean tensors: ``mask[name]`` is a bool tensor shaped like parameter ``name``.

    ``True`` marks an active entry; inactive entries are held at exactly zero. The mask is a
    read-only mapping (``names``, ``mask[name]``, iteration in insertion order). Do not modify
    its tensors in place: a mask caches its counts (build a new mask, e.g. with ``replace`` or
    the algebra, instead).

    Algebra (both operands must cover the same names with the same shapes, else
    ``MaskMismatchError``; results are new masks, operands are never modified)::

        a & b     intersection: active in both
        a | b     union: active in either
        ~a        complement: inactive in a (per parameter)
        a - b     and-not: active in a but not in b (a & ~b)
        a ^ b     symmetric difference: active in exactly one
        a == b    True if identical (a plain bool, not elementwise)
        a.issubset(b), a.isdisjoint(b)

    Laws that hold (property-tested): De Morgan, idempotence, absorption, distributivity,
    ``a - b == a & ~b``, ``a ^ b == (a - b) | (b - a)``.

    Counting: ``nnz()`` / ``density()`` per parameter, ``total_nnz`` / ``total_density`` (one
    host read for all parameters, cached). Models: ``apply_(model)`` zeroes inactive weights in
    place, ``Mask.from_nonzero(model)``. Storage: ``state_dict()`` bit-packs 8 entries per byte;
    ``Mask.from_state_dict`` / ``load_state_dict`` restore it exactly. ``summary()`` prints a
    per-layer table.

    Example::

        >>> m = Mask({"w": torch.tensor([True, False, True])})
        >>> (m & ~m).total_nnz, m.density()
        (0, {'w': 0.6666666666666666})
    """

    __slots__ = ("_nnz", "_tensors")

    def __init__(self, tensors: Mapping[str, torch.Tensor]):
        checked: dict[str, torch.Tensor] = {}
        for name, tensor in tensors.items():
            if not isinstance(tensor, torch.Tensor) or tensor.dtype != torch.bool:
                kind = getattr(tensor, "dtype", type(tensor).__name__)
                raise TypeError(
                    f"mask entry {name!r} must be a bool tensor, got {kind}; "
                    "convert with `tensor != 0` or `tensor.bool()`"
                )
            # Row-major storage, so flat indices and views agree (a mask taken from a
            # channels_last weight is copied once here).
            checked[name] = tensor.contiguous()
        self._tensors: dict[str, torch.Tensor] = checked
        self._nnz: dict[str, int] | None = None  # valid because the tensors are never modified

    @classmethod
    def _counted(cls, tensors: Mapping[str, torch.Tensor], nnz: Mapping[str, int]) -> Mask:
        """A mask whose counts the caller has already read (the engine, after an update)."""
        mask = cls(tensors)
        mask._nnz = dict(nnz)
        return mask

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def ones(cls, shapes: Mapping[str, Iterable[int]], device: torch.device | str | None = None):
        """A fully dense mask over ``shapes`` (name -> shape)."""
        return cls({n: torch.ones(tuple(s), dtype=torch.bool, device=device) for n, s in shapes.items()})

    @classmethod
    def zeros(cls, shapes: Mapping[str, Iterable[int]], device: torch.device | str | None = None):
        """A mask over ``shapes`` with no active entry."""
        return cls({n: torch.zeros(tuple(s), dtype=torch.bool, device=device) for n, s in shapes.items()})

    @classmethod
    def from_nonzero(
        cls, model: nn.Module, names: Iterable[str] | Callable[[str, nn.Parameter], bool] | None = None
    ) -> Mask:
        """The mask of a model's nonzero entries.

        ``names`` selects the parameters: an iterable of names, a predicate ``(name, param)``, or
        ``None`` for every parameter. Note that a weight that is active but exactly zero (for
        example one just grown at zero) is indistinguishable from an inactive one here: save the
        mask itself (:meth:`state_dict`) to resume a run.
        """
        params = dict(model.named_parameters())
        if names is None:
            chosen = list(params)
        elif callable(names):
            chosen = [n for n, p in params.items() if names(n, p)]
        else:
            chosen = list(names)
            missing = [n for n in chosen if n not in params]
            if missing:
                raise MaskMismatchError(f"model has no parameter(s) {missing}; it has {sorted(params)}")
        return cls({n: params[n].detach() != 0 for n in chosen})

    # -- mapping protocol -----------------------------------------------------------------------

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._tensors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    @property
    def names(self) -> list[str]:
        """Parameter names, in insertion order."""
        return list(self._tensors)

    @property
    def shapes(self) -> dict[str, torch.Size]:
        """Shape of each parameter's mask."""
        return {n: t.shape for n, t in self._tensors.items()}

    def numel(self) -> dict[str, int]:
        """Number of entries (active or not) per parameter."""
        return {n: t.numel() for n, t in self._tensors.items()}

    @property
    def total_numel(self) -> int:
        """Number of entries over all parameters."""
        return sum(t.numel() for t in self._tensors.values())

    # -- algebra --------------------------------------------------------------------------------

    def _check_compatible(self, other: object, op: str) -> Mask:
        if not isinstance(other, Mask):
            raise TypeError(f"cannot combine Mask {op} {type(other).__name__}; both sides must be Masks")
        if self._tensors.keys() != other._tensors.keys():
            only_left = sorted(self._tensors.keys() - other._tensors.keys())
            only_right = sorted(other._tensors.keys() - self._tensors.keys())
            raise MaskMismatchError(
                f"masks cover different parameters for {op!r}: only left {only_left}, only right "
                f"{only_right}; restrict both to the same names with Mask.select(names)"
            )
        for name, tensor in self._tensors.items():
            shape = tensor.shape
            if shape != other._tensors[name].shape:
                raise MaskMismatchError(
                    f"mask {name!r} has shape {tuple(shape)} on the left of {op!r} but "
                    f"{tuple(other._tensors[name].shape)} on the right; masks must come from the same model"
                )
        return other

    def _zip(self, other: object, op: str, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Mask:
        right = self._check_compatible(other, op)
        return Mask({n: fn(t, right._tensors[n]) for n, t in self._tensors.items()})

    def __and__(self, other: Mask) -> Mask:
        """Intersection: entries active in both masks."""
        return self._zip(other, "&", torch.logical_and)

    def __or__(self, other: Mask) -> Mask:
        """Union: entries active in either mask."""
        return self._zip(other, "|", torch.logical_or)

    def __xor__(self, other: Mask) -> Mask:
        """Symmetric difference: entries active in exactly one mask."""
        return self._zip(other, "^", torch.logical_xor)

    def __sub__(self, other: Mask) -> Mask:
        """And-not: entries active in ``self`` but not in ``other`` (``self & ~other``)."""
        return self._zip(other, "-", lambda a, b: a & ~b)

    def __invert__(self) -> Mask:
        """Complement: entries inactive in ``self``, per parameter."""
        return Mask({n: ~t for n, t in self._tensors.items()})

    def __eq__(self, other: object) -> bool:
        """True when both masks cover the same names and every entry is equal."""
        if not isinstance(other, Mask):
            return NotImplemented
        if self._tensors.keys() != other._tensors.keys():
            return False
        return all(
            t.shape == other._tensors[n].shape and torch.equal(t, other._tensors[n])
            for n, t in self._tensors.items()
        )

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # masks are mutable-by-contents tensors: not hashable

    def issubset(self, other: Mask) -> bool:
        """True when every active entry of ``self`` is active in ``other``."""
        self._check_compatible(other, "issubset")
        return not _any_of(t & ~other._tensors[n] for n, t in self._tensors.items())

    def isdisjoint(self, other: Mask) -> bool:
        """True when no entry is active in both masks."""
        self._check_compatible(other, "isdisjoint")
        return not _any_of(t & other._tensors[n] for n, t in self._tensors.items())

    # -- counting -------------------------------------------------------------------------------

    def nnz(self) -> dict[str, int]:
        """Active entries per parameter (one host read for all of them, then cached)."""
        if self._nnz is None:
            self._nnz = dict(zip(self._tensors, _read_counts(list(self._tensors.values()))))
        return dict(self._nnz)

    def density(self) -> dict[str, float]:
        """Fraction of active entries per parameter (``nnz / numel``; 1.0 for an empty tensor)."""
        numel = self.numel()
        return {n: (c / numel[n] if numel[n] else 1.0) for n, c in self.nnz().items()}

    @property
    def total_nnz(self) -> int:
        """Active entries over all parameters."""
        return sum(self.nnz().values())

    @property
    def total_density(self) -> float:
        """Fraction of active entries over all parameters."""
        total = self.total_numel
        return self.total_nnz / total if total else 1.0

    # -- models ---------------------------------------------------------------------------------

    def check_model(self, model: nn.Module) -> dict[str, nn.Parameter]:
        """The model's parameters covered by this mask; raises if a name or shape does not match."""
        params = dict(model.named_parameters())
        out = {}
        for name, tensor in self._tensors.items():
            if name not in params:
                alias = dict(model.named_parameters(remove_duplicate=False)).get(name)
                if alias is not None:
                    first = next(n for n, p in params.items() if p is alias)
                    raise MaskMismatchError(
                        f"mask names parameter {name!r}, which is the same tensor as {first!r} (tied weights); "
                        f"key the mask by {first!r} only"
                    )
                raise MaskMismatchError(
                    f"mask names parameter {name!r} but the model has no such parameter; "
                    "was the mask built for another model?"
                )
            if params[name].shape != tensor.shape:
                raise MaskMismatchError(
                    f"mask {name!r} has shape {tuple(tensor.shape)} but the model's parameter has "
                    f"{tuple(params[name].shape)}; was the mask built for another model?"
                )
            out[name] = params[name]
        return out

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> nn.Module:
        """Zero the inactive entries of the model's parameters in place; returns the model."""
        for name, param in self.check_model(model).items():
            # masked_fill gives +0.0 (w * 0 would leave -0.0 for negative w: same value, other bits).
            param.masked_fill_(~self._tensors[name].to(param.device), 0.0)
        return model

    def select(self, names: Iterable[str]) -> Mask:
        """The sub-mask over ``names`` (in the order given)."""
        names = list(names)
        sub = Mask({n: self._tensors[n] for n in names})
        if self._nnz is not None:
            sub._nnz = {n: self._nnz[n] for n in names}
        return sub

    def replace(self, updates: Mapping[str, torch.Tensor]) -> Mask:
        """A copy with some parameters' tensors replaced (names must already exist)."""
        unknown = sorted(set(updates) - self._tensors.keys())
        if unknown:
            raise MaskMismatchError(f"cannot replace unknown mask entries {unknown}")
        merged = dict(self._tensors)
        for name, tensor in updates.items():
            if tensor.shape != merged[name].shape:
                raise MaskMismatchError(
                    f"replacement for {name!r} has shape {tuple(tensor.shape)}, expected {tuple(merged[name].shape)}"
                )
            merged[name] = tensor
        return Mask(merged)

    def clone(self) -> Mask:
        """A deep copy."""
        return self._rebuilt(lambda t: t.clone())

    def to(self, device: torch.device | str) -> Mask:
        """The mask on another device (itself when it is there already: masks are read-only)."""
        device = torch.device(device)
        if all(t.device == device for t in self._tensors.values()):
            return self
        return self._rebuilt(lambda t: t.to(device))

    def _rebuilt(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Mask:
        """The same mask with ``fn`` applied to its tensors (counts kept)."""
        out = Mask({n: fn(t) for n, t in self._tensors.items()})
        out._nnz = None if self._nnz is None else dict(self._nnz)
        return out

    # -- persistence ----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """A bit-packed, ``weights_only``-loadable representation (8 entries per byte)."""
        return {
            "format": STATE_FORMAT,
            "names": list(self._tensors),
            "shapes": [list(t.shape) for t in self._tensors.values()],
            "packed": [pack_bits(t.detach().cpu()) for t in self._tensors.values()],
        }

    @classmethod
    def from_state_dict(cls, state: Mapping, device: torch.device | str | None = None) -> Mask:
        """Rebuild a mask saved with :meth:`state_dict`."""
        if state.get("format") != STATE_FORMAT:
            raise MaskMismatchError(
                f"not a maskforge mask state (format {state.get('format')!r}, expected {STATE_FORMAT!r})"
            )
        names, shapes, packed = state["names"], state["shapes"], state["packed"]
        if not (len(names) == len(shapes) == len(packed)):
            raise MaskMismatchError("mask state is inconsistent: names, shapes and packed bits differ in length")
        return cls({n: unpack_bits(p, tuple(s)).to(device) for n, s, p in zip(names, shapes, packed)})

    def load_state_dict(self, state: Mapping) -> None:
        """Load a saved mask into this one; names and shapes must match."""
        loaded = Mask.from_state_dict(state)
        self._check_compatible(loaded, "load_state_dict")
        self._tensors = {n: loaded._tensors[n].to(t.device) for n, t in self._tensors.items()}
        self._nnz = None

    # -- display --------------------------------------------------------------------------------

    def summary(self) -> str:
        """A plain-text table: name, shape, nnz, numel and density per parameter, then totals."""
        nnz = self.nnz()
        rows = [(n, "x".join(map(str, t.shape)) or "scalar", nnz[n], t.numel()) for n, t in self._tensors.items()]
        width = max([len("parameter")] + [len(r[0]) for r in rows])
        shape_w = max([len("shape")] + [len(r[1]) for r in rows])
        lines = [f"{'parameter':<{width}}  {'shape':>{shape_w}}  {'nnz':>10}  {'numel':>10}  density"]
        for name, shape, active, total in rows:
            dens = active / total if total else 1.0
            lines.append(f"{name:<{width}}  {shape:>{shape_w}}  {active:>10}  {total:>10}  {dens:7.4f}")
        lines.append(
            f"{'total':<{width}}  {'':>{shape_w}}  {self.total_nnz:>10}  {self.total_numel:>10}  {self.total_density:7.4f}"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Mask({len(self)} parameters, nnz={self.total_nnz}/{self.total_numel}, density={self.total_density:.4f})"


def _read_counts(tensors: list[torch.Tensor]) -> list[int]:
    """``count_nonzero`` of each tensor, read to the host at once (one sync per device)."""
    if not tensors:
        return []
    by_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    counts = [0] * len(tensors)
    for positions in by_device.values():
        values = torch.stack([torch.count_nonzero(tensors[i]) for i in positions]).tolist()
        for i, v in zip(positions, values):
            counts[i] = v
    return counts


def _any_of(tensors: Iterable[torch.Tensor]) -> bool:
    """Whether any entry of any tensor is True (one host read per device)."""
    return any(c > 0 for c in _read_counts(list(tensors)))
