"""The random-pruning baseline of the SLT paper (Fig. 8): a random 10% subnetwork of the randomly
initialised GFMN generator, nothing trained; the run only measures the MMD loss and writes
samples. Same data, model, loss and random weights (signed Kaiming constant) as recipes/ep_gfmn.py.
"""

from pathlib import Path

import attrs

from maskforge.runs.recipe import SparsitySpec
from maskforge.runs.recipe_loader import load_recipe

_ep = load_recipe(Path(__file__).with_name("ep_gfmn.py"))
recipe = attrs.evolve(
    _ep,
    name="random_gfmn",
    g_sparsity=SparsitySpec("random", {"density": 0.1, "allocator": "uniform", "train_weights": False,
                                         "weight_init": "signed_constant"}),
    train=attrs.evolve(_ep.train, steps=100),
    output=attrs.evolve(_ep.output, log_every=10, sample_every=100, checkpoint_every=100),
)
