"""Static Sparse GAN baseline on BigGAN, CIFAR-10 (STU-GAN section 5.1, Table 1).

Identical to recipes/stu_biggan.py except that G's mask never changes.
"""

from pathlib import Path

import attrs

from maskforge.runs.recipe import SparsitySpec
from maskforge.runs.recipe_loader import load_recipe

_stu = load_recipe(Path(__file__).with_name("stu_biggan.py"))
recipe = attrs.evolve(_stu, name="static_biggan", g_sparsity=SparsitySpec("static", {"density": 0.1, "allocator": "erk", "layer_kinds": ["conv"]}))
