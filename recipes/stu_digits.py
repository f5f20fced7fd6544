"""The embedded default: STU-GAN on scikit-learn's bundled digits (16x16), CPU in minutes.

G: 10% dense (ERK), explored by STU-GAN (magnitude drop, gradient regrowth, cosine-decayed drop
fraction), SEMA-averaged for sampling. D: 50% dense, static. Class-conditional DCGAN-style pair,
hinge loss.
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
    name="stu_digits",
    trainer="adversarial",
    data=DataSpec(name="digits", resolution=16, channels=1),
    generator=ModelSpec("dcgan_g", {"width": 1.0, "dim_z": 64}, conditional=True),
    discriminator=ModelSpec("dcgan_d", {"width": 1.0}, conditional=True),
    loss=LossSpec("hinge"),
    g_sparsity=SparsitySpec("stu_gan", {"density": 0.1, "allocator": "erk", "drop_fraction": 0.5,
                                        "update_every": 100, "grower": "gradient"}),
    d_sparsity=SparsitySpec("static", {"density": 0.5, "allocator": "erk"}),
    g_optimizer=OptimizerSpec(lr=2e-4, betas=(0.5, 0.999)),
    d_optimizer=OptimizerSpec(lr=2e-4, betas=(0.5, 0.999)),
    averager=AveragerSpec("sema", beta=0.99, start_step=100),
    train=TrainSpec(steps=2000, batch_size=64, d_steps=1, seed=0, device="auto"),
    output=OutputSpec(log_every=100, sample_every=500, checkpoint_every=1000, n_samples=100),
)
