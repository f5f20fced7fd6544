"""STU-GAN on BigGAN, ImageNet 128x128 (STU-GAN Table 4, sG = 60%, sD = 50%).

BigGAN-PyTorch's ImageNet settings (``launch_BigGAN_bs256x8.sh``), which STU-GAN keeps ("the same
as the ones used to train dense GANs"): the ImageNet layout of BigGAN (G_ch = D_ch = 96, shared
class embedding 128, hierarchical z of 120, self-attention at 64x64, orthogonal init, spectral
norm), hinge loss, Adam with betas (0, 0.999) and eps 1e-6, lr 1e-4 for G and 4e-4 for D, one D
step per G step, EMA 0.9999 from step 20000 (SEMA here, as in STU-GAN).
Like the reference, each step accumulates 8 micro-batches of 256 (2048 images;
``train.accumulate``), for G and for D; under ``torchrun`` the batch is per process (docs/scale.md),
so 8 processes would take ``--set train.accumulate=1``. Neither paper states the run's length:
``train.steps`` (150k G steps) is a budget to set with ``--set train.steps=N``.
STU-GAN: ERK over the conv kernels, G density 0.4 explored every ΔT = 500 G steps (drop 0.5,
cosine decay, gradient regrowth), D density 0.5 without exploration. Table 4's other STU-GAN row
is sG = 90%: ``--set g_sparsity.options.density=0.1``.
ImageNet's training images are read from ``data.root``, one sub-folder per class (the
ILSVRC2012 ``train`` layout, 1000 classes); nothing is downloaded.
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
    name="stu_biggan_imagenet",
    data=DataSpec(name="folder", root="data/imagenet/train", resolution=128, channels=3),
    generator=ModelSpec("biggan_g", {"width": 1.0, "dim_z": 120}, conditional=True),
    discriminator=ModelSpec("biggan_d", {"width": 1.0}, conditional=True),
    loss=LossSpec("hinge"),
    g_sparsity=SparsitySpec("stu_gan", {"density": 0.4, "allocator": "erk", "drop_fraction": 0.5,
                                        "update_every": 500, "grower": "gradient", "layer_kinds": ["conv"]}),
    d_sparsity=SparsitySpec("stu_gan", {"density": 0.5, "allocator": "erk", "explore": False, "grower": "random",
                                        "layer_kinds": ["conv"]}),
    g_optimizer=OptimizerSpec(lr=1e-4, betas=(0.0, 0.999), eps=1e-6),
    d_optimizer=OptimizerSpec(lr=4e-4, betas=(0.0, 0.999), eps=1e-6),
    averager=AveragerSpec("sema", beta=0.9999, start_step=20_000),
    train=TrainSpec(steps=150_000, batch_size=256, d_steps=1, accumulate=8),
    output=OutputSpec(log_every=100, sample_every=5000, checkpoint_every=2000),
)
