"""Errors a user or plugin author can hit.

Every message says what was wrong, what was expected and how to fix it, in one line. The CLI
prints ``str(error)`` for any :class:`MaskforgeError` and exits with status 2.
"""

from __future__ import annotations

import weakref
from typing import Any


class MaskforgeError(Exception):
    """Base class of every error maskforge raises on purpose."""


class MaskMismatchError(MaskforgeError, ValueError):
    """Two masks (or a mask and a model) disagree on parameter names or shapes."""


class InvariantViolation(MaskforgeError, AssertionError):
    """A component produced a mask update that breaks one of the sparsity invariants.

    ``component`` names the component (and the plugin that registered it, when known).
    """

    def __init__(self, component: str, message: str):
        self.component = component
        super().__init__(f"{component} broke a mask invariant: {message}")


class UnknownComponentError(MaskforgeError, KeyError):
    """A recipe or call asked for a component name no plugin registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(MaskforgeError):
    """Two plugins registered the same component name."""


class PluginLoadError(MaskforgeError):
    """A plugin failed to import or to register (raised in strict mode)."""


class PluginLoadWarning(UserWarning):
    """A plugin failed to import or to register and was skipped (non-strict mode)."""


# -- naming components in errors -----------------------------------------------------------------

# id(component) -> (weak reference, "kind 'name' from plugin 'p'"), filled by the registry.
_ORIGINS: dict[int, tuple[Any, str]] = {}


def remember_origin(component: Any, label: str) -> None:
    """Record how a component was made (the registry calls this), for :func:`describe`."""
    try:
        ref = weakref.ref(component)
    except TypeError:
        return  # functions of builtins etc.: fall back to the class name in describe()
    _ORIGINS[id(component)] = (ref, label)


def describe(component: Any, role: str = "component") -> str:
    """Human name of a component for error messages: its registry label if it has one."""
    origin = _ORIGINS.get(id(component))
    if origin is not None and origin[0]() is component:
        return origin[1]
    cls = type(component)
    return f"{role} {cls.__qualname__} (from module {cls.__module__})"
