"""Plugin registry behaviour: entry-point discovery, duplicates, broken, blocked, strict."""

import importlib
import sys
import warnings
from pathlib import Path

import pytest
import torch

from maskforge import (
    DuplicateComponentError,
    InvariantViolation,
    SparseEngine,
    UnknownComponentError,
    prune_and_grow,
)
from maskforge.errors import PluginLoadError, PluginLoadWarning
from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.plugin_system.manager import load_plugins
from maskforge.testing import random_mask

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def on_path(monkeypatch):
    """Put a fixture 'site-packages' (module + .dist-info with entry_points.txt) on sys.path."""

    def add(name):
        monkeypatch.syspath_prepend(str(FIXTURES / name))
        importlib.invalidate_caches()

    yield add
    for mod in ["maskforge_test_plugin", "broken_plugin", "dup_plugin", "bad_grower_plugin"]:
        sys.modules.pop(mod, None)


def test_builtin_plugins_load_through_the_entry_point_group():
    plugins = load_plugins()
    assert plugins.infos["core"].status == "loaded"
    assert plugins.infos["core"].source == "maskforge_plugins.core"
    assert plugins.infos["core"].version not in ("", "unknown")
    assert plugins.registry.get("grower", "gradient").plugin == "core"
    for kind, name in [("pruner", "magnitude"), ("allocator", "erk"), ("averager", "sema"), ("schedule", "cosine")]:
        assert (kind, name) in plugins.registry


def test_third_party_plugin_registers_through_its_entry_point(on_path):
    on_path("plugin_ok")
    plugins = load_plugins()
    info = plugins.infos["test_plugin"]
    assert info.status == "loaded" and info.version == "0.3.0"
    assert "maskforge_register" in info.hooks and "maskforge_mask_update" in info.hooks
    grower = plugins.create("grower", "reverse_index")
    model = torch.nn.Linear(4, 4, bias=False)
    engine = SparseEngine(model, random_mask({"weight": (4, 4)}, 0.5, 0), torch.optim.Adam(model.parameters()))
    model(torch.randn(2, 4)).sum().backward()
    stats = prune_and_grow(engine, plugins.create("pruner", "magnitude"), grower, 0.5)
    plugins.hook.maskforge_mask_update(stats=stats)
    assert sys.modules["maskforge_test_plugin"].SEEN_UPDATES[-1] is stats


def test_duplicate_names_are_an_error_naming_both_plugins(on_path):
    on_path("plugin_duplicate")
    with pytest.raises(DuplicateComponentError, match=r"grower 'gradient' is registered by both plugin 'core' and plugin 'dup'"):
        load_plugins()


def test_a_plugin_that_fails_to_import_is_a_warning_naming_it(on_path):
    on_path("plugin_broken")
    with pytest.warns(PluginLoadWarning, match=r"plugin 'broken' \(broken_plugin\) failed to import.*broken on purpose"):
        plugins = load_plugins()
    assert plugins.infos["broken"].status == "failed"
    assert plugins.infos["core"].status == "loaded"


@pytest.mark.parametrize("how", ["argument", "env"])
def test_strict_mode_turns_a_broken_plugin_into_an_error(on_path, monkeypatch, how):
    on_path("plugin_broken")
    if how == "env":
        monkeypatch.setenv("MASKFORGE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="plugin 'broken'.*--block-plugin broken"):
        load_plugins(strict=True if how == "argument" else None)


@pytest.mark.parametrize("how", ["argument", "env"])
def test_a_blocked_plugin_is_not_imported(on_path, monkeypatch, how):
    on_path("plugin_broken")
    if how == "env":
        monkeypatch.setenv("MASKFORGE_BLOCK_PLUGINS", "broken, other")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugins = load_plugins(strict=True, block=["broken"] if how == "argument" else [])
    assert plugins.infos["broken"].status == "blocked"
    assert "broken_plugin" not in sys.modules


def test_blocking_a_builtin_removes_its_names():
    plugins = load_plugins(block=["core"])
    assert plugins.infos["core"].status == "blocked"
    with pytest.raises(UnknownComponentError, match="unknown grower 'gradient'"):
        plugins.create("grower", "gradient")


def test_unknown_names_suggest_the_closest_registered_one():
    plugins = load_plugins()
    with pytest.raises(UnknownComponentError, match=r"did you mean 'gradient'\?.*registered grower names: gradient, momentum, random"):
        plugins.create("grower", "gradeint")


def test_a_plugin_that_raises_while_registering_is_skipped_with_a_warning():
    class Exploding:
        @hookimpl
        def maskforge_register(self, registry):
            registry.register("grower", "half", lambda: None)
            raise ValueError("registration exploded")

    with pytest.warns(PluginLoadWarning, match="plugin 'exploding'.*register its components.*exploded"):
        plugins = load_plugins(extra=[("exploding", Exploding())])
    assert ("grower", "half") not in plugins.registry


def test_a_component_kind_typo_is_rejected_with_a_suggestion():
    class Typo:
        @hookimpl
        def maskforge_register(self, registry):
            registry.register("grwer", "x", lambda: None)

    with pytest.raises(PluginLoadError, match="unknown component kind 'grwer'; did you mean 'grower'"):
        load_plugins(extra=[("typo", Typo())], strict=True)


def test_a_plugin_breaking_an_invariant_is_named_by_the_engine(on_path):
    on_path("plugin_breaks_invariant")
    plugins = load_plugins()
    model = torch.nn.Linear(6, 6, bias=False)
    engine = SparseEngine(model, random_mask({"weight": (6, 6)}, 0.5, 0), torch.optim.Adam(model.parameters()))
    model(torch.randn(2, 6)).sum().backward()
    with pytest.raises(InvariantViolation, match="grower 'regrow_active' from plugin 'bad_grower' broke a mask invariant"):
        prune_and_grow(engine, plugins.create("pruner", "magnitude"), plugins.create("grower", "regrow_active"), 0.5)


def test_lifecycle_hooks_reach_observers_with_keyword_subsets():
    seen = []

    class Observer:
        @hookimpl
        def maskforge_step_end(self, step):  # takes a subset of (step, metrics)
            seen.append(step)

        @hookimpl
        def maskforge_run_end(self, metrics):
            seen.append(metrics["done"])

    plugins = load_plugins(extra=[("observer", Observer())], entry_points=False)
    plugins.hook.maskforge_step_end(step=3, metrics={})
    plugins.hook.maskforge_run_end(run_dir=None, metrics={"done": True})
    assert seen == [3, True]
