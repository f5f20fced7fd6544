"""A third-party Grower, installed through an entry point, runs inside stu_gan by name from a recipe."""

import importlib
import sys
from pathlib import Path

import pytest
import torch

from maskforge import UnknownComponentError
from maskforge.plugin_system.manager import load_plugins
from maskforge.runs.recipe_loader import RecipeError, SparsitySpec, load_recipe
from maskforge.runs.single_trainer import train_single
from tests.strategy_helpers import regression_loss, student

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def third_party(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES / "plugin_ok"))
    importlib.invalidate_caches()
    yield
    sys.modules.pop("maskforge_test_plugin", None)


def test_stu_gan_runs_a_third_party_grower_named_in_a_recipe(third_party, tmp_path):
    recipe_file = tmp_path / "tiny_recipe.py"
    recipe_file.write_text(
        "from maskforge.runs.recipe_loader import SparsitySpec\n"
        "recipe = SparsitySpec('stu_gan', {'density': 0.2, 'grower': 'reverse_index', 'update_every': 5})\n"
    )
    plugins = load_plugins(strict=True)
    recipe = load_recipe(recipe_file)
    strategy = recipe.build(plugins)
    model = student()
    train_single(model, strategy, regression_loss(), steps=20, plugins=plugins,
                 make_optimizer=lambda p: torch.optim.Adam(p, lr=0.01))
    assert type(strategy._grower).__name__ == "ReverseIndexGrower"
    seen = sys.modules["maskforge_test_plugin"].SEEN_UPDATES
    assert len(seen) >= 3 and all(s.total_grown == s.total_dropped for s in seen[-3:])
    # reverse-index growth activates the highest-index entries
    last = strategy.mask["2.weight"].reshape(-1)
    assert bool(last[-5:].all())


def test_an_unknown_strategy_in_a_recipe_suggests_the_closest_name():
    with pytest.raises(UnknownComponentError, match="did you mean 'stu_gan'"):
        SparsitySpec("stu-gan").build()


def test_recipe_files_that_are_missing_broken_or_empty_give_one_clear_line(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "nope.py")
    (tmp_path / "broken.py").write_text("recipe = (\n")
    with pytest.raises(RecipeError, match="syntax error at line"):
        load_recipe(tmp_path / "broken.py")
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(RecipeError, match="defines no module-level `recipe`"):
        load_recipe(tmp_path / "empty.py")
