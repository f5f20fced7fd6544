"""The component registry: named factories that plugins register and recipes ask for by name.

A plugin's ``maskforge_register(registry)`` hook receives a :class:`RegistrationScope` bound to
that plugin and calls ``registry.register(kind, name, factory)``. Recipes and strategies then
build components with :meth:`Registry.create` (``registry.create("grower", "gradient")``).

Kinds: ``score``, ``allocator``, ``pruner``, ``grower``, ``averager``, ``schedule``,
``strategy``, ``model``, ``loss``, ``dataset``. A name may be registered once per kind;
a second registration raises :class:`~maskforge.errors.DuplicateComponentError` naming both
plugins. Asking for an unknown name raises
:class:`~maskforge.errors.UnknownComponentError` with a did-you-mean suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from maskforge.errors import (
    DuplicateComponentError,
    UnknownComponentError,
    describe,
    remember_origin,
)

__all__ = ["KINDS", "Entry", "RegistrationScope", "Registry", "describe"]

KINDS: tuple[str, ...] = (
    "score",
    "allocator",
    "pruner",
    "grower",
    "averager",
    "schedule",
    "strategy",
    "model",
    "loss",
    "dataset",
)

@attrs.frozen
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r} from plugin {self.plugin!r}"


class Registry:
    """All registered components, keyed by ``(kind, name)``."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}

    def register(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        *,
        plugin: str,
        description: str | None = None,
    ) -> None:
        """Register ``factory`` as the ``kind`` component called ``name``, owned by ``plugin``."""
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"plugin {plugin!r} registered unknown component kind {kind!r}{hint} (kinds: {', '.join(KINDS)})")
        if not callable(factory):
            raise TypeError(f"plugin {plugin!r} registered {kind} {name!r} with a non-callable factory {factory!r}")
        key = (kind, name)
        if key in self._entries:
            first = self._entries[key].plugin
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered by both plugin {first!r} and plugin {plugin!r}; "
                f"rename one, or block one with --block-plugin {plugin}"
            )
        doc = description if description is not None else (factory.__doc__ or "").strip().split("\n")[0]
        self._entries[key] = Entry(kind=kind, name=name, factory=factory, plugin=plugin, description=doc)

    def scoped(self, plugin: str) -> RegistrationScope:
        """A view whose ``register`` records ``plugin`` as the owner (what hooks receive)."""
        return RegistrationScope(self, plugin)

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``(kind, name)``; raises with a did-you-mean suggestion if unknown."""
        try:
            return self._entries[(kind, name)]
        except KeyError:
            known = self.names(kind)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            listing = ", ".join(known) if known else "none registered"
            raise UnknownComponentError(
                f"unknown {kind} {name!r}; {hint}registered {kind} names: {listing} (see `maskforge plugins`)"
            ) from None

    def create(self, kind: str, name: str, /, **options: Any) -> Any:
        """Build the component: ``factory(**options)``; the result remembers where it came from."""
        entry = self.get(kind, name)
        try:
            component = entry.factory(**options)
        except TypeError as err:
            raise TypeError(f"cannot build {entry.label} with options {sorted(options)}: {err}") from None
        remember_origin(component, entry.label)
        return component

    def names(self, kind: str | None = None) -> list[str]:
        """Registered names of one kind (or ``kind:name`` of all), sorted."""
        if kind is None:
            return sorted(f"{k}:{n}" for k, n in self._entries)
        return sorted(n for k, n in self._entries if k == kind)

    def by_plugin(self, plugin: str) -> list[Entry]:
        """Entries registered by ``plugin``, in registration order."""
        return [e for e in self._entries.values() if e.plugin == plugin]

    def unregister_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (used when its registration failed half-way)."""
        self._entries = {k: e for k, e in self._entries.items() if e.plugin != plugin}

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


@attrs.frozen
class RegistrationScope:
    """What a plugin's ``maskforge_register`` hook receives: a registry bound to that plugin."""

    registry: Registry
    plugin: str

    def register(self, kind: str, name: str, factory: Callable[..., Any], *, description: str | None = None) -> None:
        """Register a component; see :meth:`Registry.register` for ``kind`` values."""
        self.registry.register(kind, name, factory, plugin=self.plugin, description=description)

