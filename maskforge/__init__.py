"""maskforge: sparsity as an algebra of masks, for sparse GAN training and lottery tickets.

The core is small and has no strategy logic:

* :class:`Mask` — named boolean tensors with set algebra, counting and bit-packed storage.
* :mod:`maskforge.sparsity.selection` — exact top-k / bottom-k (ties by index) without full sorts.
* :mod:`maskforge.sparsity.allocation` — uniform / ER / ERK / global allocators; :class:`ParamFilter`.
* :mod:`maskforge.sparsity.protocols` — Score, Pruner, Grower, Averager, Schedule.
* :class:`SparseEngine` — keeps a model's masked weights, gradients and optimizer state at zero
  and checks the invariants after every mask update.
* :mod:`maskforge.plugin_system.hookspecs` / :func:`get_plugins` — the pluggy plugin system.
"""

from maskforge.errors import (
    DuplicateComponentError,
    InvariantViolation,
    MaskforgeError,
    MaskMismatchError,
    PluginLoadError,
    UnknownComponentError,
    describe,
)
from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.plugin_system.manager import get_plugins, load_plugins
from maskforge.sparsity.allocation import (
    Allocation,
    erdos_renyi,
    erdos_renyi_kernel,
    global_pool,
    uniform,
)
from maskforge.sparsity.averagers import EMA, SEMA
from maskforge.sparsity.engine import MaskUpdateStats, SparseEngine
from maskforge.sparsity.growers import ScoreGrower
from maskforge.sparsity.mask import Mask
from maskforge.sparsity.param_filter import ParamFilter
from maskforge.sparsity.protocols import (
    Averager,
    Count,
    Grower,
    Pruner,
    Schedule,
    Score,
    SparsityContext,
)
from maskforge.sparsity.pruners import ScorePruner
from maskforge.sparsity.selection import (
    select_count,
    select_topk,
    select_topk_global,
    select_topk_per_tensor,
)
from maskforge.sparsity.sparsify import allocate, init_mask
from maskforge.sparsity.update import prune_and_grow
from maskforge.strategy.masked import MaskedStrategy

__version__ = "0.1.0"

__all__ = [
    "EMA",
    "SEMA",
    "Allocation",
    "Averager",
    "Count",
    "DuplicateComponentError",
    "Grower",
    "InvariantViolation",
    "Mask",
    "MaskMismatchError",
    "MaskUpdateStats",
    "MaskedStrategy",
    "MaskforgeError",
    "ParamFilter",
    "PluginLoadError",
    "Pruner",
    "Schedule",
    "Score",
    "ScoreGrower",
    "ScorePruner",
    "SparseEngine",
    "SparsityContext",
    "UnknownComponentError",
    "allocate",
    "describe",
    "erdos_renyi",
    "erdos_renyi_kernel",
    "get_plugins",
    "global_pool",
    "hookimpl",
    "init_mask",
    "load_plugins",
    "prune_and_grow",
    "select_count",
    "select_topk",
    "select_topk_global",
    "select_topk_per_tensor",
    "uniform",
]
