"""Registers the core components under their recipe names.

score:      magnitude, gradient, momentum, random
pruner:     magnitude, random
grower:     gradient, momentum, random
allocator:  uniform, er, erk, global
averager:   ema, sema
schedule:   constant, cosine, cubic, linear
"""

from __future__ import annotations

from maskforge.sparsity import allocation, averagers, growers, pruners, schedules, scores
from maskforge.plugin_system.hookspecs import hookimpl


@hookimpl
def maskforge_register(registry):
    registry.register("score", "magnitude", scores.MagnitudeScore)
    registry.register("score", "gradient", scores.GradientMagnitudeScore)
    registry.register("score", "momentum", scores.MomentumScore)
    registry.register("score", "random", scores.RandomScore)

    registry.register("pruner", "magnitude", pruners.magnitude_pruner)
    registry.register("pruner", "random", pruners.random_pruner)

    registry.register("grower", "gradient", growers.gradient_grower)
    registry.register("grower", "momentum", growers.momentum_grower)
    registry.register("grower", "random", growers.random_grower)

    # Allocators are pure functions; the factory returns the function itself.
    registry.register("allocator", "uniform", lambda: allocation.uniform, description=allocation.uniform.__doc__)
    registry.register("allocator", "er", lambda: allocation.erdos_renyi, description=allocation.erdos_renyi.__doc__)
    registry.register("allocator", "erk", lambda: allocation.erdos_renyi_kernel, description=allocation.erdos_renyi_kernel.__doc__)
    registry.register("allocator", "global", lambda: allocation.global_pool, description=allocation.global_pool.__doc__)

    registry.register("averager", "ema", averagers.EMA)
    registry.register("averager", "sema", averagers.SEMA)

    registry.register("schedule", "constant", schedules.Constant)
    registry.register("schedule", "cosine", schedules.CosineDecay)
    registry.register("schedule", "cubic", schedules.CubicGradual)
    registry.register("schedule", "linear", schedules.Linear)
