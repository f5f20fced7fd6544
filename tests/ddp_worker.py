"""Worker for tests/test_distributed.py: trains a tiny network under a strategy with
DistributedDataParallel (gloo, CPU) and saves each rank's mask. Also importable for the
single-process reference (same global batch, one process)."""

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from maskforge.plugin_system.manager import get_plugins
from maskforge.runs.distributed import mask_digest, verify_identical_masks

STEPS = 8
GLOBAL_BATCH = 16


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))


def global_batch(step: int):
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(GLOBAL_BATCH, 8, generator=gen)
    return x, torch.sin(x.sum(1, keepdim=True))


def train(rank: int = 0, world: int = 1, strategy_name: str = "stu_gan"):
    model = make_model()
    strategy = get_plugins().create("strategy", strategy_name, density=0.3, allocator="uniform", update_every=1,
                                    drop_fraction=0.3, decay="constant")
    strategy.attach(model, network="G", generator=torch.Generator().manual_seed(0), total_steps=STEPS)
    optimizer = torch.optim.SGD(strategy.trainable_parameters(), lr=0.05)
    strategy.bind(optimizer)
    net = DistributedDataParallel(model) if world > 1 else model
    for step in range(1, STEPS + 1):
        x, y = global_batch(step)
        x, y = x.chunk(world)[rank], y.chunk(world)[rank]
        optimizer.zero_grad()
        F.mse_loss(net(x), y).backward()
        strategy.before_step(step)
        optimizer.step()
        strategy.after_step(step)  # stu_gan's update follows the optimizer step
        if world > 1:
            verify_identical_masks(strategy.mask, "G", step)
    return strategy.mask


if __name__ == "__main__":
    out = Path(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "stu_gan"
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    mask = train(rank, world, name)
    torch.save({"digest": mask_digest(mask), "mask": mask.state_dict()}, out / f"rank{rank}.pt")
    dist.destroy_process_group()
    os._exit(0)
