"""STU-GAN on BigGAN, CIFAR-10 (STU-GAN Table 1, sG = 90%, sD = 50%).

BigGAN-PyTorch's CIFAR settings: G_ch = D_ch = 64, dim_z 128, class-conditional BN, projection
D, spectral norm on G and D, Adam 2e-4 / 2e-4 with betas (0, 0.999), 4 D steps per G step,
batch 50, EMA 0.9999 from step 1000 (SEMA here), hinge loss, 125k G steps (500 epochs).
STU-GAN: ERK, G density 0.1 explored every ΔT = 500 G steps (drop 0.5, cosine decay, gradient
regrowth), D density 0.5 without exploration (random growth if you turn it on). As in the
authors' code, the densities apply to the conv kernels (``layer_kinds: ["conv"]``); linear and
embedding weights stay dense, which is what the paper's FLOPs tables count.
CIFAR-10 is read from data.root (``--set data.root=DIR``), downloaded only with data.download=true.
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
    name="stu_biggan",
    data=DataSpec(name="cifar10", root="data/cifar10", resolution=32, channels=3),
    generator=ModelSpec("biggan_g", {"width": 1.0, "dim_z": 128}, conditional=True),
    discriminator=ModelSpec("biggan_d", {"width": 1.0}, conditional=True),
    loss=LossSpec("hinge"),
    g_sparsity=SparsitySpec("stu_gan", {"density": 0.1, "allocator": "erk", "drop_fraction": 0.5,
                                        "update_every": 500, "grower": "gradient", "layer_kinds": ["conv"]}),
    d_sparsity=SparsitySpec("stu_gan", {"density": 0.5, "allocator": "erk", "explore": False, "grower": "random",
                                        "layer_kinds": ["conv"]}),
    g_optimizer=OptimizerSpec(lr=2e-4, betas=(0.0, 0.999)),
    d_optimizer=OptimizerSpec(lr=2e-4, betas=(0.0, 0.999)),
    averager=AveragerSpec("sema", beta=0.9999, start_step=1000),
    train=TrainSpec(steps=125_000, batch_size=50, d_steps=4),
    output=OutputSpec(log_every=100, sample_every=5000, checkpoint_every=5000),
)
