"""Crash-safe checkpoint files.

:func:`save_atomic` writes to a temporary file in the same directory, flushes and fsyncs it,
then renames it over the target, so a reader never sees a half-written checkpoint. Files are
plain ``torch.save`` payloads of tensors, numbers, strings, lists and dicts, loadable with
:func:`load` (``weights_only=True``: loading a checkpoint cannot execute code).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_atomic(payload: Any, path: Path | str) -> Path:
    """``torch.save`` to ``path`` atomically (temp file, flush, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path | str, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint written by :func:`save_atomic` without executing code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass the path of a .pt file a run wrote")
    return torch.load(path, map_location=map_location, weights_only=True)
