"""Tiny tasks and spies shared by the strategy tests."""

import torch
from torch import nn


def student(width=32, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1))


def regression_loss(seed=1, n=256):
    """A fixed teacher-student regression problem: loss_fn(model, step)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=gen)
    teacher = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    with torch.no_grad():
        for p in teacher.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        y = teacher(x)

    def loss_fn(model, step):
        return nn.functional.mse_loss(model(x), y)

    return loss_fn


class UpdateSpy:
    """Records (old mask, drop, grow) of every update the engine applies."""

    def __init__(self, engine):
        self.records = []
        original = engine.apply_update

        def spy(drop, grow, **kwargs):
            old = engine.mask
            stats = original(drop, grow, **kwargs)
            self.records.append((old, drop, grow, stats))
            return stats

        engine.apply_update = spy
