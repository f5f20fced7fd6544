"""The strategy runtime: how one network's mask is made and evolves over a run
(:class:`MaskedStrategy`, the base every strategy plugin extends) and mask banks (several masks
over one set of weights)."""

from maskforge.strategy.masked import MaskedStrategy

__all__ = ["MaskedStrategy"]
