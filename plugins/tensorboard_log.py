"""Writes run metrics to TensorBoard when the optional ``tensorboard`` package is installed
(``pip install maskforge[tensorboard]``); otherwise it does nothing. Event files go to
``<run_dir>/tensorboard``. Block it with ``--block-plugin tensorboard``.
"""

from __future__ import annotations

from maskforge.plugin_system.hookspecs import hookimpl

_writer = None


def _summary_writer(run_dir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the optional extra is not installed
        return None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


@hookimpl
def maskforge_run_start(run_dir, config):
    global _writer
    if run_dir is not None:
        _writer = _summary_writer(run_dir)


@hookimpl
def maskforge_step_end(step, metrics):
    if _writer is not None:
        for name, value in metrics.items():
            _writer.add_scalar(name, value, step)


@hookimpl
def maskforge_mask_update(stats):
    if _writer is not None:
        _writer.add_scalar(f"{stats.network}/exploration_rate", stats.exploration_rate, stats.step)
        _writer.add_scalar(f"{stats.network}/dropped", stats.total_dropped, stats.step)


@hookimpl
def maskforge_run_end(run_dir, metrics):
    global _writer
    if _writer is not None:
        _writer.close()
        _writer = None
