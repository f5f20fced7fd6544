"""Prints each mask update as one line on the console (an observer plugin).

Set ``MASKFORGE_QUIET=1`` to silence it, or block it with ``--block-plugin console``.
"""

from __future__ import annotations

import os

from rich.console import Console

from maskforge.plugin_system.hookspecs import hookimpl

_console = Console(stderr=True, highlight=False)


@hookimpl
def maskforge_mask_update(stats):
    if os.environ.get("MASKFORGE_QUIET"):
        return
    _console.print(
        f"[bold]{stats.network}[/] step {stats.step}: dropped {stats.total_dropped}, grown {stats.total_grown}, "
        f"density {stats.density:.4f}, exploration {stats.exploration_rate:.4f}",
        soft_wrap=True,
    )
