"""Registers the image sources: ``digits`` (embedded), ``cifar10``, ``folder``, ``celeba``, ``lsun``."""

from __future__ import annotations

from maskforge.data import sources
from maskforge.plugin_system.hookspecs import hookimpl


@hookimpl
def maskforge_register(registry):
    registry.register("dataset", "digits", sources.digits)
    registry.register("dataset", "cifar10", sources.cifar10)
    registry.register("dataset", "folder", sources.image_folder)
    registry.register("dataset", "celeba", sources.celeba)
    registry.register("dataset", "lsun", sources.lsun)
