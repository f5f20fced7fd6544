"""The Mask: named boolean tensors keyed by fully qualified parameter name.

A :class:`Mask` says which entries of which parameters are *active* (``True``) — the rest are
held at exactly zero. Masks form a boolean algebra; every binary operator requires both masks to
cover the same names with the same shapes and raises :class:`~maskforge.errors.MaskMismatchError`
otherwise::

    a & b     entries active in both                (intersection)
    a | b     entries active in either              (union)
    ~a        entries inactive in a                 (complement, per parameter)
    a - b     entries active in a but not in b      (and-not: ``a & ~b``)
    a ^ b     entries active in exactly one         (symmetric difference)
    a == b    True when both masks are identical    (a plain bool, not elementwise)

Counting: :meth:`nnz` / :meth:`density` per parameter, :attr:`total_nnz` / :attr:`total_density`
over all of them. :meth:`apply_` zeroes the inactive weights of a model in place;
:meth:`from_nonzero` builds a mask from a model's nonzero entries; :meth:`state_dict` stores the
mask bit-packed (8 entries per byte) and :meth:`load_state_dict` restores it exactly.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from maskforge.sparsity.compaction import positions_where
from maskforge.errors import MaskMismatchError
from maskforge.sparsity.packing import pack_bits, unpack_bits

STATE_FORMAT = "maskforge.mask/1"


class Mask(Mapping[str, torch.Tensor]):
    """Named boolean tensors: ``mask[name]`` is a bool tensor shaped like parameter ``name``.

    ``True`` marks an active entry; inactive entries are held at exactly zero. The mask is a
    read-only mapping (``names``, ``mask[name]``, iteration in insertion order). Do not modify
    its tensors in place: a mask caches its counts and active indices (build a new mask, e.g.
    with ``replace`` or the algebra, instead).

    Indices: ``flat_indices(name)`` gives the active entries' flat indices (computed once, or
    known from construction); ``Mask.from_indices(indices, like)`` builds a mask from them and
    creates its boolean tensors only when one is read — the fast path of mask updates.

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

    Counting: ``nnz()`` / ``density()`` per parameter, ``total_nnz`` / ``total_density``.
    Models: ``apply_(model)`` zeroes inactive weights in place, ``Mask.from_nonzero(model)``.
    Storage: ``state_dict()`` bit-packs 8 entries per byte; ``Mask.from_state_dict`` /
    ``load_state_dict`` restore it exactly. ``summary()`` prints a per-layer table.

    Example::

        >>> m = Mask({"w": torch.tensor([True, False, True])})
        >>> (m & ~m).total_nnz, m.density()
        (0, {'w': 0.6666666666666666})
    """

    __slots__ = ("__weakref__", "_dense", "_difference_of", "_index", "_nnz", "_shapes", "_subset_of")

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
        self._dense: dict[str, torch.Tensor] | None = checked
        self._shapes: dict[str, torch.Size] = {n: t.shape for n, t in checked.items()}
        # Caches, valid because a Mask's tensors are never modified after construction.
        self._index: dict[str, torch.Tensor] = {}
        self._nnz: dict[str, int] = {}
        # Provenance the engine uses, held by weak reference so that a chain of masks, each built
        # from the previous one, does not keep them all alive:
        # (parent, positions) when built by from_positions, a known subset of ``parent``;
        # (left, right) when built as ``left - right`` (the engine reuses such a kept mask).
        self._subset_of: tuple[weakref.ref, dict[str, torch.Tensor]] | None = None
        self._difference_of: tuple[weakref.ref, weakref.ref] | None = None

    def __getstate__(self) -> dict:
        """Pickling keeps the tensors and caches, not the provenance (weak references)."""
        state = {slot: getattr(self, slot) for slot in Mask.__slots__ if slot != "__weakref__"}
        state["_subset_of"] = state["_difference_of"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        for slot, value in state.items():
            object.__setattr__(self, slot, value)

    @property
    def _tensors(self) -> dict[str, torch.Tensor]:
        """The boolean tensors (built from the indices on first use for a mask made by
        :meth:`from_indices`: an update that only needs the indices never pays for them)."""
        if self._dense is None:
            dense = {}
            for name, shape in self._shapes.items():
                index = self._index[name]
                flat = torch.zeros(shape.numel(), dtype=torch.bool, device=index.device)
                dense[name] = flat.index_fill_(0, index, True).view(shape)
            self._dense = dense
        return self._dense

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
    def from_indices(
        cls, indices: Mapping[str, torch.Tensor], like: Mapping[str, torch.Tensor], *, assume_unique: bool = False,
        _in_range: bool = False,
    ) -> Mask:
        """The mask with exactly the entries at ``indices[name]`` (flat indices) active.

        ``like`` gives the names and shapes (a Mask, or any tensors); every name needs indices.
        The indices are kept, so :meth:`flat_indices` and :meth:`nnz` cost nothing afterwards.
        Repeated indices raise ``ValueError`` unless ``assume_unique`` (the caller guarantees it).
        """
        if indices.keys() != like.keys():
            raise MaskMismatchError(
                f"indices cover {sorted(indices)} but the mask covers {sorted(like)}; give indices for every name"
            )
        mask = cls({})
        mask._dense, mask._shapes = None, {}
        shapes = like.shapes if isinstance(like, Mask) else {n: t.shape for n, t in like.items()}
        for name, shape in shapes.items():
            index = indices[name]
            if not isinstance(index, torch.Tensor) or index.dtype != torch.long or index.dim() != 1:
                kind = getattr(index, "dtype", type(index).__name__)
                raise TypeError(f"indices of {name!r} must be a 1-D int64 tensor, got {kind} with shape {tuple(getattr(index, 'shape', ()))}")
            numel = torch.Size(shape).numel()
            if index.numel() and not _in_range:  # (from_positions: entries of a valid index)
                low, high = (int(v) for v in torch.aminmax(index))
                if low < 0 or high >= numel:
                    raise ValueError(
                        f"indices of {name!r} must be flat indices in [0, {numel}) for shape {tuple(shape)}, "
                        f"got values from {low} to {high}"
                    )
            mask._shapes[name], mask._index[name] = shape, index
            mask._nnz[name] = index.numel()
        if not assume_unique:
            for name, tensor in mask._tensors.items():  # builds the tensors (and checks the range)
                if int(torch.count_nonzero(tensor)) != mask._nnz[name]:
                    raise ValueError(f"indices of {name!r} repeat an entry; each active entry must be listed once")
        return mask

    @classmethod
    def from_positions(cls, parent: Mask, positions: Mapping[str, torch.Tensor], *, assume_unique: bool = False) -> Mask:
        """The sub-mask of ``parent`` made of the entries at ``positions[name]`` of
        ``parent.flat_indices(name)`` (positions into that index, not flat indices).

        A pruner that ranks the active entries knows where its choices sit in the index; a mask
        built this way is a subset of ``parent`` by construction, and the engine uses the
        positions to update the active index without searching it. Repeated positions raise
        ``ValueError`` unless ``assume_unique``.
        """
        if positions.keys() != parent.keys():
            raise MaskMismatchError(
                f"positions cover {sorted(positions)} but the mask covers {sorted(parent)}; give positions for every name"
            )
        indices = {}
        for name in parent:
            pos = positions[name]
            if not isinstance(pos, torch.Tensor) or pos.dtype != torch.long or pos.dim() != 1:
                kind = getattr(pos, "dtype", type(pos).__name__)
                raise TypeError(f"positions of {name!r} must be a 1-D int64 tensor, got {kind} with shape {tuple(getattr(pos, 'shape', ()))}")
            index = parent.flat_indices(name)
            low, high = (int(v) for v in torch.aminmax(pos)) if pos.numel() else (0, -1)
            if low < 0 or high >= index.numel():
                raise IndexError(f"positions of {name!r} must be in [0, {index.numel()}) (the active entries of the parent mask)")
            indices[name] = torch.index_select(index, 0, pos.to(index.device))
        mask = cls.from_indices(indices, parent, assume_unique=assume_unique, _in_range=True)
        mask._subset_of = (weakref.ref(parent), {n: p.to(indices[n].device) for n, p in positions.items()})
        return mask

    def _positions_in(self, parent: Mask) -> dict[str, torch.Tensor] | None:
        """The positions in ``parent``'s active index this mask was built from (see
        :meth:`from_positions`), or None when it was not built from ``parent``."""
        if self._subset_of is not None and self._subset_of[0]() is parent:
            return self._subset_of[1]
        return None

    def _known(self, nnz: Mapping[str, int] | None = None, index: Mapping[str, torch.Tensor] | None = None) -> Mask:
        """Record counts / active indices the caller already knows (the engine, after an update
        it made itself, or after changing its own ever-active mask in place); returns ``self``."""
        if nnz is not None:
            self._nnz.update(nnz)
        if index is not None:
            self._index = dict(index)
        return self

    def flat_indices(self, name: str) -> torch.Tensor:
        """Flat indices of the active entries of ``name`` (1-D int64, each once, order unspecified).

        Computed once per mask and kept (masks built by :meth:`from_indices` or by the engine's
        updates already know them): pruners rank active entries through this without a pass
        over the whole tensor.
        """
        index = self._index.get(name)
        if index is None:
            index = positions_where(self._tensors[name].reshape(-1))
            self._index[name] = index
            self._nnz[name] = index.numel()
        return index

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
        return iter(self._shapes)

    def __len__(self) -> int:
        return len(self._shapes)

    @property
    def names(self) -> list[str]:
        """Parameter names, in insertion order."""
        return list(self._shapes)

    @property
    def shapes(self) -> dict[str, torch.Size]:
        """Shape of each parameter's mask."""
        return dict(self._shapes)

    def numel(self) -> dict[str, int]:
        """Number of entries (active or not) per parameter."""
        return {n: s.numel() for n, s in self._shapes.items()}

    @property
    def total_numel(self) -> int:
        """Number of entries over all parameters."""
        return sum(s.numel() for s in self._shapes.values())

    # -- algebra --------------------------------------------------------------------------------

    def _check_compatible(self, other: object, op: str) -> Mask:
        if not isinstance(other, Mask):
            raise TypeError(f"cannot combine Mask {op} {type(other).__name__}; both sides must be Masks")
        if self._shapes.keys() != other._shapes.keys():
            only_left = sorted(self._shapes.keys() - other._shapes.keys())
            only_right = sorted(other._shapes.keys() - self._shapes.keys())
            raise MaskMismatchError(
                f"masks cover different parameters for {op!r}: only left {only_left}, only right "
                f"{only_right}; restrict both to the same names with Mask.select(names)"
            )
        for name, shape in self._shapes.items():
            if shape != other._shapes[name]:
                raise MaskMismatchError(
                    f"mask {name!r} has shape {tuple(shape)} on the left of {op!r} but "
                    f"{tuple(other._shapes[name])} on the right; masks must come from the same model"
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
        right = self._check_compatible(other, "-")
        if right._dense is None:  # other knows only its indices: clear them in a copy
            out = Mask({n: t.clone().view(-1).index_fill_(0, right._index[n].to(t.device), False).view(t.shape)
                        for n, t in self._tensors.items()})
        else:
            out = self._zip(other, "-", lambda a, b: a & ~b)
        out._difference_of = (weakref.ref(self), weakref.ref(right))
        return out

    def _difference(self, left: Mask, right: Mask) -> bool:
        """Whether this mask was built as ``left - right`` (by identity of the operands)."""
        return self._difference_of is not None and self._difference_of[0]() is left and self._difference_of[1]() is right

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
        return not any(bool((t & ~other._tensors[n]).any()) for n, t in self._tensors.items())

    def isdisjoint(self, other: Mask) -> bool:
        """True when no entry is active in both masks."""
        self._check_compatible(other, "isdisjoint")
        return not any(bool((t & other._tensors[n]).any()) for n, t in self._tensors.items())

    # -- counting -------------------------------------------------------------------------------

    def nnz(self) -> dict[str, int]:
        """Active entries per parameter."""
        for n in self._shapes:
            if n not in self._nnz:
                self._nnz[n] = int(torch.count_nonzero(self._tensors[n]))
        return {n: self._nnz[n] for n in self._shapes}

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
        if self._dense is None:
            sub = Mask({})
            sub._dense, sub._shapes = None, {n: self._shapes[n] for n in names}
        else:
            sub = Mask({n: self._dense[n] for n in names})
        sub._index = {n: self._index[n] for n in names if n in self._index}
        sub._nnz = {n: self._nnz[n] for n in names if n in self._nnz}
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
        held = list(self._index.values()) + (list(self._dense.values()) if self._dense is not None else [])
        if held and all(t.device == device for t in held):
            return self
        return self._rebuilt(lambda t: t.to(device))

    def _rebuilt(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Mask:
        """The same mask with ``fn`` applied to its tensors and cached indices (counts kept)."""
        if self._dense is None:
            out = Mask({})
            out._dense, out._shapes = None, dict(self._shapes)
        else:
            out = Mask({n: fn(t) for n, t in self._dense.items()})
        out._index, out._nnz = {n: fn(i) for n, i in self._index.items()}, dict(self._nnz)
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
        self._dense = {n: loaded._tensors[n].to(t.device) for n, t in self._tensors.items()}
        self._index, self._nnz, self._subset_of, self._difference_of = {}, {}, None, None

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
