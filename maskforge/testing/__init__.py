"""Test helpers for maskforge and for plugin authors.

* :mod:`maskforge.testing.strategies` — hypothesis strategies: layer shapes, models, masks,
  densities, scores full of ties, and a ready-made :class:`~maskforge.sparsity.protocols.SparsityContext`.
* :mod:`maskforge.testing.conformance` — ``check_score``, ``check_pruner``, ``check_grower``,
  ``check_allocator``: run them against your component before you publish a plugin.

Importing this module needs ``hypothesis`` (``pip install maskforge[test]``).
"""

from maskforge.testing.conformance import check_allocator, check_grower, check_pruner, check_score
from maskforge.testing.strategies import (
    ShapeModel,
    densities,
    layer_models,
    layer_shapes,
    make_context,
    masks,
    random_mask,
    shape_maps,
    shape_models,
    tied_scores,
    tied_tensor,
)

__all__ = [
    "ShapeModel",
    "check_allocator",
    "check_grower",
    "check_pruner",
    "check_score",
    "densities",
    "layer_models",
    "layer_shapes",
    "make_context",
    "masks",
    "random_mask",
    "shape_maps",
    "shape_models",
    "tied_scores",
    "tied_tensor",
]
