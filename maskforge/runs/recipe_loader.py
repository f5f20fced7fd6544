"""Loading recipe files: Python files that define a module-level ``recipe``.

A recipe file builds nothing heavy at import — it only declares frozen attrs objects from
:mod:`maskforge.runs.recipe`::

    from maskforge.runs.recipe import GANRecipe, SparsitySpec
    recipe = GANRecipe("mine", g_sparsity=SparsitySpec("stu_gan", {"density": 0.1}))

:func:`load_recipe` executes the file in a fresh module namespace and returns its ``recipe``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from maskforge.errors import MaskforgeError
from maskforge.runs.recipe import SparsitySpec

__all__ = ["RecipeError", "SparsitySpec", "load_recipe"]


class RecipeError(MaskforgeError):
    """A recipe file is missing, does not import, or defines no ``recipe``."""


def load_recipe(path: Path | str) -> Any:
    """Import the recipe file at ``path`` and return its module-level ``recipe``."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {path} does not exist; pass the path of a .py file defining `recipe`")
    name = f"maskforge_recipe_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise RecipeError(f"recipe {path} has a syntax error at line {err.lineno}: {err.msg}") from None
    except Exception as err:
        raise RecipeError(f"recipe {path} failed to import: {type(err).__name__}: {err}") from err
    finally:
        sys.modules.pop(name, None)
    if not hasattr(module, "recipe"):
        raise RecipeError(f"recipe {path} defines no module-level `recipe`; add `recipe = ...` at the end of the file")
    return module.recipe


def load_run_recipe(path: Path | str) -> Any:
    """:func:`load_recipe` for ``maskforge run``: the ``recipe`` must be a ``GANRecipe``."""
    from maskforge.runs.recipe import GANRecipe

    recipe = load_recipe(path)
    if not isinstance(recipe, GANRecipe):
        raise RecipeError(
            f"recipe {path} sets `recipe` to a {type(recipe).__name__}, not a GANRecipe; "
            "build it with maskforge.runs.recipe.GANRecipe(...) (see docs/recipes.md)"
        )
    return recipe
