"""Prune and fine-tune (PF) on BigGAN, CIFAR-10 (STU-GAN section 3.2, Table 1 "PF (global)").

One-shot global magnitude pruning of a trained dense G to density 0.1 (``--set
g_sparsity.options.allocator=uniform`` for "PF (uniform)"), D dense, then fine-tuning for as many
steps as the dense run. ``pretrained_g`` / ``pretrained_d`` name the dense run's checkpoint.
"""

from pathlib import Path

import attrs

from maskforge.runs.recipe import SparsitySpec
from maskforge.runs.recipe_loader import load_recipe

_stu = load_recipe(Path(__file__).with_name("stu_biggan.py"))
recipe = attrs.evolve(
    _stu,
    name="pf_biggan",
    g_sparsity=SparsitySpec("pf", {"density": 0.1, "allocator": "global", "layer_kinds": ["conv"]}),
    d_sparsity=SparsitySpec("static", {"density": 1.0}),
    averager=attrs.evolve(_stu.averager, name="ema"),
    pretrained_g="runs/dense_biggan/checkpoints/checkpoint_00125000.pt",
    pretrained_d="runs/dense_biggan/checkpoints/checkpoint_00125000.pt",
)
