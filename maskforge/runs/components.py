"""Build everything a recipe names — before anything is written to disk, so a bad recipe
fails in one line without leaving a half-made run directory."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from maskforge.storage.checkpoint import load as load_checkpoint
from maskforge.errors import MaskforgeError
from maskforge.plugin_system.manager import Plugins
from maskforge.runs.recipe import GANRecipe, ModelSpec, OptimizerSpec


def resolve_device(name: str) -> torch.device:
    """``auto`` (cuda, then mps, then cpu) or an explicit torch device string."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available here; use --device cpu")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but MPS is not available here; use --device cpu")
    return device


def build_model(spec: ModelSpec, plugins: Plugins, data) -> nn.Module:
    options = {"resolution": data.resolution, "channels": data.channels, **spec.options}
    if spec.conditional:
        options.setdefault("n_classes", data.n_classes)
    elif spec.name.startswith(("biggan", "dcgan")):
        options.setdefault("n_classes", 0)
    return plugins.create("model", spec.name, **options)


def load_pretrained(model: nn.Module, path: str, which: str) -> None:
    file = Path(path).expanduser()
    if not file.is_file():
        raise MaskforgeError(f"pretrained {which} weights {file} not found; set pretrained_{which.lower()} to a state-dict file")
    state = load_checkpoint(file)
    state = state.get(which, state.get("model", state)) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise MaskforgeError(f"pretrained {which} weights {file} hold a {type(state).__name__}, not a state dict")
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state)
                    if hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or shapes:
        parts = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("other shape", shapes)) if keys]
        raise MaskforgeError(f"pretrained {which} weights {file} do not fit the recipe's model: {'; '.join(parts)}")
    model.load_state_dict(state)


def make_optimizer(params, spec: OptimizerSpec) -> torch.optim.Optimizer:
    params = list(params)
    if not params:
        return torch.optim.Adam([nn.Parameter(torch.zeros(()))], lr=spec.lr)  # nothing trains (generation only)
    cls = torch.optim.AdamW if spec.weight_decay else torch.optim.Adam
    return cls(params, lr=spec.lr, betas=tuple(spec.betas), eps=spec.eps, weight_decay=spec.weight_decay)


@attrs.define
class Components:
    recipe: GANRecipe
    device: torch.device
    data: Any
    G: nn.Module
    D: nn.Module | None
    g_strategy: Any
    d_strategy: Any
    loss: Any
    averager: Any
    G_avg: nn.Module | None
    generators: dict[str, torch.Generator]
    opt_g: torch.optim.Optimizer | None = None
    opt_d: torch.optim.Optimizer | None = None
    G_train: nn.Module | None = None  # what forward passes use: G, or its DDP wrapper
    D_train: nn.Module | None = None
    distributed: bool = False

    def __attrs_post_init__(self):
        self.G_train = self.G_train or self.G
        self.D_train = self.D_train or self.D

    def wrap_distributed(self) -> None:
        """Wrap G and D in DistributedDataParallel (gradients all-reduced in backward)."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        if any(p.requires_grad for p in self.G.parameters()):
            self.G_train = DDP(self.G, device_ids=ids)
        if self.D is not None and any(p.requires_grad for p in self.D.parameters()):
            self.D_train = DDP(self.D, device_ids=ids)
        self.distributed = True

    def bind_optimizers(self) -> None:
        """(Re)create the optimizers over what the strategies train, and bind them."""
        r = self.recipe
        self.opt_g = make_optimizer(self.g_strategy.trainable_parameters(), r.g_optimizer)
        self.g_strategy.bind(self.opt_g)
        if self.D is not None:
            self.opt_d = make_optimizer(self.d_strategy.trainable_parameters(), r.d_optimizer)
            self.d_strategy.bind(self.opt_d)


def build(recipe: GANRecipe, plugins: Plugins, device: torch.device, rank: int = 0) -> Components:
    """Data, models, strategies, loss and averager of ``recipe`` on ``device``.

    Data and latent generators are seeded with the rank (ranks see different batches); strategy
    generators only with the seed (identical random mask decisions on every rank).
    """
    seed = recipe.train.seed
    torch.manual_seed(seed)
    generators = {
        "data": torch.Generator().manual_seed(seed + 1_000_003 * rank),
        "z": torch.Generator().manual_seed(seed + 1 + 1_000_003 * rank),
        "g_strategy": torch.Generator().manual_seed(seed + 2),
        "d_strategy": torch.Generator().manual_seed(seed + 3),
    }
    d = recipe.data
    data = plugins.create("dataset", d.name, root=d.root, resolution=d.resolution, channels=d.channels, download=d.download)
    # Strategy options are validated before any model is built.
    g_strategy = recipe.g_sparsity.build(plugins)
    adversarial = recipe.trainer == "adversarial"
    if adversarial and recipe.discriminator is None:
        raise MaskforgeError("an adversarial recipe needs a discriminator; set `discriminator=ModelSpec(...)`")
    d_strategy = recipe.d_sparsity.build(plugins) if adversarial else None
    G = build_model(recipe.generator, plugins, data)
    if recipe.pretrained_g:
        load_pretrained(G, recipe.pretrained_g, "G")
    G = G.to(device)
    D = None
    if adversarial:
        D = build_model(recipe.discriminator, plugins, data)
        if recipe.pretrained_d:
            load_pretrained(D, recipe.pretrained_d, "D")
        D = D.to(device)
    steps = recipe.train.steps
    g_strategy.attach(G, network="G", generator=generators["g_strategy"], total_steps=steps, plugins=plugins)
    if D is not None:
        d_strategy.attach(D, network="D", generator=generators["d_strategy"], total_steps=steps * recipe.train.d_steps, plugins=plugins)
    loss = build_loss(recipe, plugins, device)
    averager, G_avg = None, None
    if recipe.averager.name != "none":
        a = recipe.averager
        averager = plugins.create("averager", a.name, beta=a.beta, start_step=a.start_step)
        G_avg = copy.deepcopy(G).eval()
    return Components(recipe=recipe, device=device, data=data, G=G, D=D, g_strategy=g_strategy, d_strategy=d_strategy,
                      loss=loss, averager=averager, G_avg=G_avg, generators=generators)


def build_loss(recipe: GANRecipe, plugins: Plugins, device: torch.device):
    spec = recipe.loss
    if recipe.trainer == "moment_matching":
        if spec.name != "mmd_vgg":
            raise MaskforgeError(f"the moment_matching trainer needs loss 'mmd_vgg', got {spec.name!r}")
        return plugins.create("loss", "mmd_vgg", arch=spec.vgg, weights=spec.weights or None, n_relu=spec.n_relu,
                              tracker=spec.tracker, lr=spec.tracker_lr, beta1=spec.tracker_beta1,
                              allow_download=spec.allow_download, device=device)
    if spec.name == "mmd_vgg":
        raise MaskforgeError("loss 'mmd_vgg' needs trainer='moment_matching'")
    return plugins.create("loss", spec.name)
