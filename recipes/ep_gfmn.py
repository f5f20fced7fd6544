"""Strong lottery ticket: edge-popup with MMD moment matching on VGG19 features (SLT paper).

GFMN ResNet generator at 64x64 with random weights (signed Kaiming constant), k = 10% kept per
layer; only the scores train (Adam lr 5e-5 with cosine annealing, betas (0.5, 0.999), batch 64); MMD on the mean and
variance of VGG19 features from its first 16 ReLU layers, real moments tracked by GFMN's Adam
moving averages (lr 1e-5, beta1 0.5). CelebA from data.root. VGG19 weights: loss.weights, or
vgg19-dcbb9e9d.pth in $MASKFORGE_WEIGHTS_DIR or torchvision's cache.
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
    name="ep_gfmn",
    trainer="moment_matching",
    data=DataSpec(name="celeba", root="data", resolution=64, channels=3),
    generator=ModelSpec("gfmn_g", {"width": 1.0, "dim_z": 100}),
    discriminator=None,
    loss=LossSpec("mmd_vgg", vgg="vgg19", n_relu=16, tracker="adam", tracker_lr=1e-5, tracker_beta1=0.5),
    g_sparsity=SparsitySpec("edge_popup", {"density": 0.1, "allocator": "uniform", "weight_init": "signed_constant"}),
    g_optimizer=OptimizerSpec(lr=5e-5, betas=(0.5, 0.999), lr_schedule="cosine"),
    averager=AveragerSpec("none"),
    train=TrainSpec(steps=2_000_000, batch_size=64),
    output=OutputSpec(log_every=500, sample_every=10_000, checkpoint_every=10_000),
)
