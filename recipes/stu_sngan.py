"""STU-GAN on SNGAN, CIFAR-10 (STU-GAN Table 1; GAN-LTH's SNGAN settings).

Unconditional SNGAN: z 128, gf 256, df 128, spectral norm on D only, Adam 2e-4 with betas
(0, 0.9), 5 D steps per G step, G batch 128, D batch 64, 50k G steps, EMA 0.999 (SEMA here),
hinge loss. STU-GAN: ERK, G density 0.1 explored every ΔT = 1000 G steps, D density 0.5, over
the conv kernels as in the authors' code (``layer_kinds: ["conv"]``; linear weights stay dense).
"""

from maskforge.runs.recipe import (
    AveragerSpec,
    DataSpec,
    GANRecipe,
    LossSpec,
    ModelSpec,
    OptimizerSpec,
    OutputSpec,
    SparsitySpec,
    TrainSpec,
)

recipe = GANRecipe(
    name="stu_sngan",
    data=DataSpec(name="cifar10", root="data/cifar10", resolution=32, channels=3),
    generator=ModelSpec("sngan_g", {"width": 1.0, "dim_z": 128}),
    discriminator=ModelSpec("sngan_d", {"width": 1.0}),
    loss=LossSpec("hinge"),
    g_sparsity=SparsitySpec("stu_gan", {"density": 0.1, "allocator": "erk", "drop_fraction": 0.5, "layer_kinds": ["conv"],
                                        "update_every": 1000, "grower": "gradient"}),
    d_sparsity=SparsitySpec("stu_gan", {"density": 0.5, "allocator": "erk", "explore": False, "grower": "random",
                                        "layer_kinds": ["conv"]}),
    g_optimizer=OptimizerSpec(lr=2e-4, betas=(0.0, 0.9)),
    d_optimizer=OptimizerSpec(lr=2e-4, betas=(0.0, 0.9)),
    averager=AveragerSpec("sema", beta=0.999),
    train=TrainSpec(steps=50_000, batch_size=128, d_batch_size=64, d_steps=5),
    output=OutputSpec(log_every=100, sample_every=5000, checkpoint_every=5000),
)
