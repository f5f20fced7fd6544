"""Plots of a run, written as PNGs to ``<run_dir>/plots`` (matplotlib, no display needed).

* ``losses.png`` — every loss in ``metrics.jsonl`` against the generator step;
* ``exploration.png`` — exploration rate (share of weights ever active) and density of G and D
  over steps;
* ``exploration_per_layer.png`` — G's exploration rate of every layer at each mask update;
* ``density_per_layer.png`` — final density of every sparsified layer of G and D.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from maskforge.sparsity.mask import Mask


def _records(run_dir: Path, event: str = "step") -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip()) if r.get("event") == event]


def plot_run(run_dir: Path | str, masks: dict[str, Mask]) -> list[Path]:
    """Write the run's plots; ``masks`` maps network names (``G``, ``D``) to their final masks."""
    run_dir = Path(run_dir)
    out = run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    records = _records(run_dir)
    written = []
    if records:
        steps = [r["step"] for r in records]
        losses = sorted({k for r in records for k in r if k.endswith("loss")})
        fig, ax = plt.subplots(figsize=(7, 4))
        for name in losses:
            ax.plot(steps, [r.get(name, float("nan")) for r in records], label=name)
        ax.set_xlabel("generator step")
        ax.set_ylabel("loss")
        ax.set_title("losses")
        ax.legend()
        ax.grid(alpha=0.3)
        written.append(_save(fig, out / "losses.png"))

        fig, ax = plt.subplots(figsize=(7, 4))
        for net in ("g", "d"):
            if f"{net}_exploration" in records[0]:
                ax.plot(steps, [r[f"{net}_exploration"] for r in records], label=f"{net.upper()} exploration rate")
                ax.plot(steps, [r[f"{net}_density"] for r in records], "--", label=f"{net.upper()} density")
        ax.set_xlabel("generator step")
        ax.set_ylabel("share of weights")
        ax.set_ylim(0, 1.02)
        ax.set_title("exploration rate (weights ever active) and density")
        ax.legend()
        ax.grid(alpha=0.3)
        written.append(_save(fig, out / "exploration.png"))

    updates = [r for r in _records(run_dir, "mask_update") if r.get("network") == "G"]
    if updates:
        fig, ax = plt.subplots(figsize=(7, 4))
        for layer in updates[0]["exploration_per_layer"]:
            ax.plot([r["step"] for r in updates], [r["exploration_per_layer"][layer] for r in updates],
                    label=layer.replace(".parametrizations.weight.original", ""))
        ax.set_xlabel("generator step")
        ax.set_ylabel("share of the layer's weights ever active")
        ax.set_title("G exploration rate per layer")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        written.append(_save(fig, out / "exploration_per_layer.png"))

    if masks:
        fig, axes = plt.subplots(len(masks), 1, figsize=(8, 2.5 + 0.25 * max(len(m) for m in masks.values())), squeeze=False)
        for ax, (net, mask) in zip(axes[:, 0], masks.items()):
            names = list(mask)
            dens = [mask.density()[n] for n in names]
            ax.barh(range(len(names)), dens)
            ax.set_yticks(range(len(names)), [n.replace(".parametrizations.weight.original", "") for n in names], fontsize=7)
            ax.invert_yaxis()
            ax.set_xlim(0, 1)
            ax.set_xlabel("density (fraction of weights kept)")
            ax.set_title(f"{net}: density per layer (total {mask.total_density:.3f})")
        fig.tight_layout()
        written.append(_save(fig, out / "density_per_layer.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
