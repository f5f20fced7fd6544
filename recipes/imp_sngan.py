"""GAN tickets: iterative magnitude pruning of SNGAN on CIFAR-10 (Chen et al.; STU-GAN Table 1).

G: global IMP, 20% of the remaining weights per round, survivors rewound to initialisation,
9 rounds: 0.8^9 ≈ 13.4% of G left, the ticket STU-GAN Table 1 compares at "sG = 90%" ("the
exact sparsity of GAN Tickets at sG = 90% is 87%"); use 7 rounds (21.0% left) for sG = 80%. D: reset to its
initial weights every round and kept dense (``imp`` with prune_fraction 0). Each round trains
the SNGAN schedule of recipes/stu_sngan.py; the EMA copy is masked with G's own mask.
"""

from pathlib import Path

import attrs

from maskforge.runs.recipe import SparsitySpec
from maskforge.runs.recipe_loader import load_recipe

_sngan = load_recipe(Path(__file__).with_name("stu_sngan.py"))
recipe = attrs.evolve(
    _sngan,
    name="imp_sngan",
    g_sparsity=SparsitySpec("imp", {"prune_fraction": 0.2, "pruning_rounds": 9, "pooled": True, "rewind": "init",
                                      "layer_kinds": ["conv"]}),
    d_sparsity=SparsitySpec("imp", {"prune_fraction": 0.0, "pruning_rounds": 9, "rewind": "init"}),
    averager=attrs.evolve(_sngan.averager, name="ema"),
)
