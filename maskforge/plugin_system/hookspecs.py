"""Every hook a maskforge plugin can implement, grouped by lifecycle.

A plugin is a module (or any object) with functions decorated by :data:`hookimpl`, made known
through the ``maskforge`` entry-point group of its package::

    [project.entry-points.maskforge]
    my_plugin = "my_package.my_plugin"

Hooks are called with keyword arguments; an implementation may accept any subset of the
arguments a spec lists, so new arguments can be added without breaking plugins. The built-in
strategies in ``maskforge_plugins`` are loaded exactly this way.

Note what is *not* a hook: "prune now" or "grow now". The engine calls only the components a
recipe selected by name; hooks below are for registering components and for observing a run.
"""

from __future__ import annotations

import pluggy

PROJECT = "maskforge"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------------------------
# Registration: called once, when plugins are loaded
# ---------------------------------------------------------------------------------------------


@hookspec
def maskforge_register(registry):
    """Register named components.

    Called once per process, when plugins load, for every plugin in load order.

    :param registry: a :class:`maskforge.plugin_system.registry.RegistrationScope` bound to this plugin. Call
        ``registry.register(kind, name, factory, description=None)`` with ``kind`` one of
        ``score, allocator, pruner, grower, averager, schedule, strategy, model, loss,
        dataset``; ``factory(**options)`` must build the component from a recipe's options.
    :return: ignored. Registering a name another plugin already registered raises
        :class:`maskforge.errors.DuplicateComponentError` naming both plugins.
    """


# ---------------------------------------------------------------------------------------------
# Run lifecycle: observers (loggers, progress bars, checkpointers). Return values are ignored.
# ---------------------------------------------------------------------------------------------


@hookspec
def maskforge_run_start(run_dir, config):
    """A run is starting, before its first step.

    :param run_dir: :class:`pathlib.Path` of the run directory, or ``None`` if nothing is written.
    :param config: a JSON-serialisable mapping describing the run (the resolved recipe).
    :return: ignored.
    """


@hookspec
def maskforge_step_end(step, metrics):
    """A training step finished.

    :param step: the global step number (1-based) just completed.
    :param metrics: ``{name: float}`` measured at this step (losses, densities, ...).
    :return: ignored.
    """


@hookspec
def maskforge_mask_update(stats):
    """A mask update was applied and passed the invariant checks.

    :param stats: :class:`maskforge.sparsity.engine.MaskUpdateStats` — network, step, component,
        dropped / grown counts per parameter, nnz, density and exploration rate.
    :return: ignored.
    """


@hookspec
def maskforge_checkpoint(path, step):
    """A checkpoint was written (atomically) to ``path`` after step ``step``.

    :param path: :class:`pathlib.Path` of the checkpoint file.
    :param step: the step it holds.
    :return: ignored.
    """


@hookspec
def maskforge_run_end(run_dir, metrics):
    """A run finished (normally or after an error was reported).

    :param run_dir: :class:`pathlib.Path` of the run directory, or ``None``.
    :param metrics: ``{name: float}`` summarising the run.
    :return: ignored.
    """
