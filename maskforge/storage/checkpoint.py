"""Crash-safe, tamper-evident checkpoint files.

:func:`save_atomic` serialises the payload, computes its SHA-256, and writes
``{"format", "sha256", "payload": bytes}`` to a temporary file in the same directory, flushes and
fsyncs it, then renames it over the target — a reader never sees a half-written checkpoint, and
a crash mid-write leaves the previous file intact. :func:`load` reads with
``weights_only=True`` (loading a checkpoint cannot execute code), verifies the hash, and raises
:class:`CheckpointError` — one line naming the file — for a truncated, corrupted or foreign file.
Plain ``torch.save`` files (e.g. pretrained state dicts) load too, without a hash to check.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from maskforge.errors import MaskforgeError

FORMAT = "maskforge.checkpoint/1"


class CheckpointError(MaskforgeError):
    """A checkpoint is missing, truncated, corrupted or not a maskforge checkpoint."""


def save_atomic(payload: Any, path: Path | str) -> Path:
    """Write ``payload`` to ``path`` atomically with a content hash (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    wrapper = {"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(),
               "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(wrapper, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        try:  # make the rename itself durable
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: Path | str, map_location: str | torch.device = "cpu") -> Any:
    """Load a file written by :func:`save_atomic` (hash verified) or a plain ``torch.save`` file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pt file a run wrote")
    try:
        wrapper = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a damaged file makes torch.load raise many types; reraised with the reason
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = reason if len(reason) <= 120 else reason[:117] + "..."
        raise CheckpointError(
            f"checkpoint {path} cannot be read: it is truncated, corrupted or not a checkpoint ({reason}); "
            "if it is a run's newest checkpoint, move it out of checkpoints/ and --resume from the one before"
        ) from None
    if not (isinstance(wrapper, dict) and wrapper.get("format") == FORMAT):  # a plain torch.save file
        if str(map_location) == "cpu":
            return wrapper
        return torch.load(path, map_location=map_location, weights_only=True)
    data = wrapper["payload"].numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != wrapper["sha256"]:
        raise CheckpointError(f"checkpoint {path} is corrupted: its content hash does not match; "
                              "if it is a run's newest checkpoint, move it out of checkpoints/ and --resume from the one before")
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
