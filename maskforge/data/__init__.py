"""Datasets maskforge ships or loads from a local root."""

from maskforge.data.digits import load_digits

__all__ = ["load_digits"]
