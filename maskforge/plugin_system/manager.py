"""Loading plugins: entry points -> pluggy -> the component registry.

:func:`load_plugins` finds every entry point in the ``maskforge`` group (built-in and
third-party alike), imports it, registers it with a pluggy ``PluginManager`` and calls each
plugin's ``maskforge_register`` hook with a registry scope bound to that plugin.

* A plugin that fails to import or to register is skipped with a
  :class:`~maskforge.errors.PluginLoadWarning` naming it — or, in strict mode (``strict=True``
  or ``MASKFORGE_STRICT_PLUGINS=1``), raises :class:`~maskforge.errors.PluginLoadError`.
* Duplicate component names always raise, naming both plugins.
* ``block=["name"]`` (or ``MASKFORGE_BLOCK_PLUGINS=name1,name2``, or the CLI's
  ``--block-plugin``) skips a plugin by its entry-point name without importing it.

:func:`get_plugins` returns a process-wide instance, loaded on first use.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from maskforge.errors import DuplicateComponentError, PluginLoadError, PluginLoadWarning
from maskforge.plugin_system import hookspecs
from maskforge.plugin_system.registry import Registry

ENTRY_POINT_GROUP = "maskforge"
STRICT_ENV = "MASKFORGE_STRICT_PLUGINS"
BLOCK_ENV = "MASKFORGE_BLOCK_PLUGINS"


@attrs.define
class PluginInfo:
    """What ``maskforge plugins`` shows for one plugin."""

    name: str
    source: str  # "module:attr" of the entry point, or the object's module
    version: str
    status: str  # "loaded", "blocked" or "failed"
    hooks: list[str] = attrs.field(factory=list)
    error: str = ""


@attrs.define
class Plugins:
    """Loaded plugins: the pluggy manager, the registry they filled and per-plugin info."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: dict[str, PluginInfo]

    @property
    def hook(self) -> Any:
        """Call lifecycle hooks: ``plugins.hook.maskforge_step_end(step=..., metrics=...)``."""
        return self.manager.hook

    def create(self, kind: str, name: str, /, **options: Any) -> Any:
        """Shortcut for ``registry.create``."""
        return self.registry.create(kind, name, **options)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _fail(infos: dict[str, PluginInfo], name: str, source: str, version: str, what: str, err: BaseException, strict: bool) -> None:
    message = f"plugin {name!r} ({source}) failed to {what}: {type(err).__name__}: {err}"
    infos[name] = PluginInfo(name=name, source=source, version=version, status="failed", error=f"{type(err).__name__}: {err}")
    if strict:
        raise PluginLoadError(
            f"{message}; fix or uninstall it, or block it with --block-plugin {name} "
            f"(strict mode is on, by --strict-plugins or {STRICT_ENV}: without it the plugin is skipped with a warning)"
        ) from err
    warnings.warn(f"{message}; it is skipped (block it with --block-plugin {name})", PluginLoadWarning, stacklevel=3)


def load_plugins(
    *,
    strict: bool | None = None,
    block: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    entry_points: bool = True,
) -> Plugins:
    """Load plugins and fill a fresh registry.

    Args:
        strict: raise on a plugin that fails to load (default: ``MASKFORGE_STRICT_PLUGINS``).
        block: entry-point names to skip (added to ``MASKFORGE_BLOCK_PLUGINS``).
        extra: ``(name, plugin_object)`` pairs registered after the entry points (tests,
            notebooks, programmatic use).
        entry_points: set False to load only ``extra`` (isolated tests).
    """
    strict = _env_flag(STRICT_ENV) if strict is None else strict
    blocked = set(block) | set(_env_list(BLOCK_ENV))
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    candidates: list[tuple[str, str, str, Any]] = []  # name, source, version, loader

    if entry_points:
        seen: set[str] = set()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen:
                continue  # the same distribution found twice on sys.path
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            version = dist.version if dist is not None else "unknown"
            candidates.append((ep.name, ep.value, version, ep.load))
    for name, obj in extra:
        version = str(getattr(obj, "__version__", "-"))
        candidates.append((name, getattr(obj, "__name__", type(obj).__name__), version, lambda obj=obj: obj))

    for name, source, version, loader in candidates:
        if name in blocked:
            manager.set_blocked(name)
            infos[name] = PluginInfo(name=name, source=source, version=version, status="blocked")
            continue
        try:
            plugin = loader()
            manager.register(plugin, name=name)
        except Exception as err:  # noqa: BLE001 - a broken third-party plugin must not take the tool down; reported with its name
            _fail(infos, name, source, version, "import", err, strict)
            continue
        hooks = sorted(h.name for h in manager.get_hookcallers(plugin) or [])
        infos[name] = PluginInfo(name=name, source=source, version=version, status="loaded", hooks=hooks)

    registry = Registry()
    # Call each plugin's registration hook separately so the registry knows who registered what.
    for impl in reversed(manager.hook.maskforge_register.get_hookimpls()):
        scope = registry.scoped(impl.plugin_name)
        try:
            impl.function(**{arg: scope for arg in impl.argnames})
        except DuplicateComponentError:
            raise
        except Exception as err:  # noqa: BLE001 - a plugin's register hook may raise anything; reported with its name
            registry.unregister_plugin(impl.plugin_name)
            manager.unregister(name=impl.plugin_name)
            info = infos[impl.plugin_name]
            _fail(infos, impl.plugin_name, info.source, info.version, "register its components", err, strict)
    return Plugins(manager=manager, registry=registry, infos=infos)


_CURRENT: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded from entry points on first use."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = load_plugins()
    return _CURRENT


def set_plugins(plugins: Plugins | None) -> None:
    """Replace (or with ``None`` forget) the process-wide plugins; the next use reloads."""
    global _CURRENT
    _CURRENT = plugins
