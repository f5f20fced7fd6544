"""``maskforge export CHECKPOINT OUT``: a lossless compact generator for deployment.

The exported file holds the generator's state dict in :mod:`maskforge.storage.compact` form (per tensor
the smallest of dense, bit-packed mask + nonzero values, or indices/gaps + values), its
bit-packed mask and the recipe — written atomically with a content hash. The generator exported
is the one samples come from: the averaged (EMA/SEMA) weights when the run has an averager.
Edge-popup generators are exported with their masks baked in (``weight * mask`` as plain
weights), so they load into the plain architecture. :func:`load_generator` rebuilds the model and
loads the weights back bit for bit; ``maskforge inspect`` reads exports too.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from maskforge.storage.checkpoint import CheckpointError, load, save_atomic
from maskforge.storage.compact import compact_state_dict, expand_state_dict
from maskforge.sparsity.mask import Mask
from maskforge.plugin_system.manager import Plugins, get_plugins
from maskforge.runs.recipe import GANRecipe, to_json
from maskforge.runs.components import build_model
from maskforge.runs.restore import _ShapeOnly, load_run, recipe_from_json
from maskforge.sparsity.score_masking import bake_score_masks

FORMAT = "maskforge.generator/1"


def export_generator(checkpoint: Path | str, out: Path | str, plugins: Plugins | None = None) -> dict:
    """Write the compact generator of ``checkpoint`` (file or run directory) to ``out``."""
    run = load_run(checkpoint, plugins, averaged=True)
    mask = run.g_strategy.mask
    baked = getattr(run.g_strategy, "phase", None) == "search"
    if baked:
        bake_score_masks(run.G, mask.names)
    state = run.G.state_dict()
    payload = {
        "format": FORMAT,
        "recipe": json.dumps(to_json(run.recipe)),
        "generator": compact_state_dict(state),
        "mask": mask.state_dict(),
        "baked_score_masks": baked,
        "averaged": "averager" in run.state,
        "step": int(run.state["progress"]["step"]),
        "n_classes": int(getattr(run.data, "n_classes", 0)),
        "source": str(run.path),
    }
    save_atomic(payload, out)
    dense_bytes = sum(t.numel() * t.element_size() for t in state.values() if torch.is_tensor(t))
    return {"path": str(out), "bytes": Path(out).stat().st_size, "dense_bytes": dense_bytes, "density": mask.total_density}


def is_export(state: object) -> bool:
    return isinstance(state, dict) and state.get("format") == FORMAT


def load_generator(path: Path | str, plugins: Plugins | None = None) -> tuple[nn.Module, Mask, GANRecipe, dict]:
    """The exported generator (eval mode), its mask, its recipe and the export's metadata."""
    state = load(path)
    if not is_export(state):
        raise CheckpointError(f"{path} is not a maskforge generator export (expected format {FORMAT!r})")
    recipe = recipe_from_json(state["recipe"])
    d = recipe.data
    shapes = _ShapeOnly(d.resolution, d.channels, int(state.get("n_classes", 10 if recipe.generator.conditional else 0)))
    if recipe.generator.conditional and "n_classes" not in state:  # exports written before n_classes was stored
        try:
            shapes.n_classes = (plugins or get_plugins()).create("dataset", d.name, root=d.root, resolution=d.resolution,
                                                                   channels=d.channels).n_classes
        except Exception:  # noqa: BLE001, S110 - any plugin's dataset may be absent here; it only refines the default of 10 classes
            pass
    model = build_model(recipe.generator, plugins or get_plugins(), shapes)
    model.load_state_dict(expand_state_dict(state["generator"]))
    return model.eval(), Mask.from_state_dict(state["mask"]), recipe, {k: state[k] for k in ("step", "averaged", "source")}
