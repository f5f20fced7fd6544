"""What a run writes: metrics (JSON lines), sample grids (PNG), checkpoints (kept last N)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import torch
from torchvision.utils import save_image

from maskforge.storage.checkpoint import save_atomic

CHECKPOINT_GLOB = "checkpoint_*.pt"


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl``.

    ``resume_step``: a run resumed from the checkpoint of that step drops the records written
    after it (by the interrupted process), so every step is logged once.
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.is_file():
            kept = [line for line in path.read_text().splitlines() if _step_of(line) <= resume_step]
            path.write_text("".join(line + "\n" for line in kept))
        self._handle = path.open("a")

    def write(self, record: dict) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return sys.maxsize  # a torn last line of a killed run: dropped with the records after the checkpoint


def save_samples(images: torch.Tensor, path: Path, nrow: int = 8) -> Path:
    """A grid of images in [-1, 1] as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.detach().float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1.0, 1.0), padding=1)
    return path


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"checkpoint_{step:08d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    found = sorted((run_dir / "checkpoints").glob(CHECKPOINT_GLOB))
    return [p for p in found if re.fullmatch(r"checkpoint_\d{8}\.pt", p.name)]


def write_checkpoint(payload: dict, run_dir: Path, step: int, keep: int) -> Path:
    """Write atomically, then delete all but the newest ``keep`` checkpoints."""
    path = save_atomic(payload, checkpoint_path(run_dir, step))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path
