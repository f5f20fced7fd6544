"""GAN tickets: iterative magnitude pruning of SNGAN on CIFAR-10 (Chen et al.; STU-GAN Table 1).

G: global IMP, 20% of the remaining weights per round, survivors rewound to initialisation,
10 rounds (0.8^10 ≈ 10.7% of G left, the paper's "sG = 90%" ticket is 87%). D: reset to its
initial weights every round and kept dense (``imp`` with prune_fraction 0). Each round trains
the SNGAN schedule of recipes/stu_sngan.py; the EMA copy is masked with G's own mask.
"""

from pathlib import Path

import attrs

from maskforge.recipe import SparsitySpec
from maskforge.recipe_loader import load_recipe

_sngan = load_recipe(Path(__file__).with_name("stu_sngan.py"))
recipe = attrs.evolve(
    _sngan,
    name="imp_sngan",
    g_sparsity=SparsitySpec("imp", {"prune_fraction": 0.2, "pruning_rounds": 10, "pooled": True, "rewind": "init"}),
    d_sparsity=SparsitySpec("imp", {"prune_fraction": 0.0, "pruning_rounds": 10, "rewind": "init"}),
    averager=attrs.evolve(_sngan.averager, name="ema"),
)
