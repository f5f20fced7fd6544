"""Rebuild a run's models from a checkpoint (for ``maskforge eval`` / ``inspect`` / ``export``)."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import attrs
import torch

from maskforge.storage.checkpoint import load
from maskforge.errors import MaskforgeError
from maskforge.plugin_system.manager import Plugins, get_plugins
from maskforge.runs.recipe import GANRecipe
from maskforge.runs.components import build_model
from maskforge.runs.outputs import list_checkpoints


def _structure(cls: type, data: Any) -> Any:
    if data is None:
        return None
    attrs.resolve_types(cls)
    kwargs = {}
    for field in attrs.fields(cls):
        if not field.init or field.name not in data:
            continue
        value = data[field.name]
        kind = field.type
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        target = kind if isinstance(kind, type) and attrs.has(kind) else next((a for a in args if isinstance(a, type) and attrs.has(a)), None)
        kwargs[field.name] = _structure(target, value) if target is not None and isinstance(value, dict) else value
    return cls(**kwargs)


def recipe_from_json(data: dict | str) -> GANRecipe:
    """The :class:`~maskforge.runs.recipe.GANRecipe` stored (as JSON) in a checkpoint or recipe.json."""
    return _structure(GANRecipe, json.loads(data) if isinstance(data, str) else data)


def find_checkpoint(path: Path | str) -> Path:
    """A checkpoint file itself, or the newest checkpoint of a run directory."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise MaskforgeError(f"{path} holds no checkpoints (expected {path / 'checkpoints'}/checkpoint_*.pt)")
        return found[-1]
    if not path.is_file():
        raise MaskforgeError(f"{path} does not exist; pass a run directory or a checkpoint file")
    return path


@attrs.define
class LoadedRun:
    recipe: GANRecipe
    state: dict
    data: Any
    G: torch.nn.Module
    D: torch.nn.Module | None
    g_strategy: Any
    d_strategy: Any
    path: Path


def load_run(path: Path | str, plugins: Plugins | None = None, *, averaged: bool = True) -> LoadedRun:
    """Rebuild G (with the averaged weights when ``averaged`` and the run has an averager) and D."""
    plugins = plugins or get_plugins()
    file = find_checkpoint(path)
    state = load(file)
    if not isinstance(state, dict) or "recipe" not in state:
        raise MaskforgeError(f"{file} is not a maskforge run checkpoint (no recipe inside)")
    recipe = recipe_from_json(state["recipe"])
    d = recipe.data
    try:
        data = plugins.create("dataset", d.name, root=d.root, resolution=d.resolution, channels=d.channels, download=False)
    except MaskforgeError:
        # the run's class count is stored in its checkpoints (older ones: the 10 of CIFAR-10 / digits)
        data = _ShapeOnly(d.resolution, d.channels, int(state.get("n_classes", 10 if recipe.generator.conditional else 0)))
    G = build_model(recipe.generator, plugins, data)
    g_strategy = recipe.g_sparsity.build(plugins)
    g_strategy.attach(G, network="G", plugins=plugins)
    g_strategy.load_state_dict(state["g_strategy"])
    G.load_state_dict(state["G"])
    if averaged and "averager" in state and state["averager"].get("shadow"):
        G.load_state_dict(state["averager"]["shadow"])
    D = d_strategy = None
    if recipe.discriminator is not None and "D" in state:
        D = build_model(recipe.discriminator, plugins, data)
        d_strategy = recipe.d_sparsity.build(plugins)
        d_strategy.attach(D, network="D", plugins=plugins)
        d_strategy.load_state_dict(state["d_strategy"])
        D.load_state_dict(state["D"])
    return LoadedRun(recipe=recipe, state=state, data=data, G=G.eval(), D=None if D is None else D.eval(),
                     g_strategy=g_strategy, d_strategy=d_strategy, path=file)


@attrs.define
class _ShapeOnly:
    """Stands in for a dataset that is not on this machine (models only need its shapes)."""

    resolution: int
    channels: int
    n_classes: int
    name: str = "unavailable"
