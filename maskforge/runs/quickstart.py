"""The smallest end-to-end run of the core: a dynamic-sparse classifier on the bundled digits.

A small conv net is sparsified with ERK at ``density``; every ``update_every`` steps the
magnitude pruner drops a cosine-decayed share of each layer's active weights and the gradient
grower regrows as many (RigL / STU-GAN's exploration on a classifier). Every component comes
from the plugin registry by name, exactly as a recipe would ask for it. Losses, accuracy,
densities and the exploration rate are printed and written to ``out_dir``:

* ``metrics.jsonl`` — one JSON object per logged step and per mask update;
* ``summary.json`` — final test accuracy, density per layer, exploration rate;
* ``checkpoint.pt`` — the model's (dense-loadable) state dict and the bit-packed mask.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import attrs
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from maskforge.storage.checkpoint import save_atomic
from maskforge.data.digits import load_digits
from maskforge.sparsity.engine import SparseEngine
from maskforge.metrics.digits_classifier import digits_classifier_net
from maskforge.sparsity.param_filter import ParamFilter
from maskforge.plugin_system.manager import Plugins, get_plugins
from maskforge.sparsity.schedules import Cadence
from maskforge.sparsity.sparsify import allocate, init_mask
from maskforge.sparsity.update import prune_and_grow


@attrs.frozen
class QuickstartConfig:
    """Settings of the quickstart run (all have working defaults)."""

    steps: int = 600
    batch_size: int = 64
    density: float = 0.1
    allocator: str = "erk"
    pruner: str = "magnitude"
    grower: str = "gradient"
    drop_fraction: float = 0.3
    update_every: int = 50
    lr: float = 2e-3
    seed: int = 0
    log_every: int = 50


def digits_classifier(width: int = 32) -> nn.Module:
    """The small conv net for 16x16 digits (the same architecture the digits metrics use)."""
    return digits_classifier_net(width)


def run_quickstart(
    out_dir: Path | str | None,
    config: QuickstartConfig = QuickstartConfig(),
    *,
    plugins: Plugins | None = None,
    console: Console | None = None,
) -> dict:
    """Train, log and return the summary dict (also written to ``out_dir/summary.json``)."""
    plugins = plugins or get_plugins()
    console = console or Console()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    log = (out / "metrics.jsonl").open("w") if out is not None else None

    def emit(record: dict) -> None:
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()

    images, labels = load_digits(16)
    order = torch.randperm(len(images), generator=generator)
    test_idx, train_idx = order[:300], order[300:]
    model = digits_classifier()
    allocator = plugins.create("allocator", config.allocator)
    allocation = allocate(model, config.density, allocator, ParamFilter())
    mask = init_mask(model, allocation, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    engine = SparseEngine(model, mask, optimizer, network="classifier")
    pruner = plugins.create("pruner", config.pruner)
    grower = plugins.create("grower", config.grower)
    drop_schedule = plugins.create("schedule", "cosine", initial=config.drop_fraction, t_end=config.steps)
    cadence = Cadence(every=config.update_every, stop=config.steps - 1)
    plugins.hook.maskforge_run_start(run_dir=out, config=attrs.asdict(config))

    console.print(f"[bold]maskforge quickstart[/]: sparse conv net on digits, ERK density {config.density}")
    console.print(mask.summary())
    started = time.perf_counter()
    for step in range(1, config.steps + 1):
        batch = train_idx[torch.randint(len(train_idx), (config.batch_size,), generator=generator)]
        loss = F.cross_entropy(model(images[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cadence.due(step):
            # Between backward and step: the grower sees the dense gradient.
            stats = prune_and_grow(engine, pruner, grower, drop_schedule(step), step=step, generator=generator)
            plugins.hook.maskforge_mask_update(stats=stats)
            emit({"event": "mask_update", "step": step, "dropped": stats.total_dropped,
                  "density": stats.density, "exploration_rate": stats.exploration_rate})
        optimizer.step()
        metrics = {"loss": loss.item()}
        plugins.hook.maskforge_step_end(step=step, metrics=metrics)
        if step % config.log_every == 0 or step == config.steps:
            metrics["density"] = engine.mask.total_density
            emit({"event": "step", "step": step, **metrics})
            console.print(f"step {step:4d}  loss {metrics['loss']:.4f}  density {metrics['density']:.4f}  "
                          f"exploration {engine.exploration_rate:.4f}")
    with torch.no_grad():
        accuracy = float((model(images[test_idx]).argmax(1) == labels[test_idx]).float().mean())
    summary = {
        "test_accuracy": accuracy,
        "density": engine.mask.total_density,
        "density_per_layer": engine.mask.density(),
        "exploration_rate": engine.exploration_rate,
        "steps": config.steps,
        "seconds": round(time.perf_counter() - started, 2),
        "config": attrs.asdict(config),
    }
    engine.verify("quickstart run")
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        log.close()
        path = save_atomic({"model": model.state_dict(), "mask": engine.mask.state_dict(), "step": config.steps},
                           out / "checkpoint.pt")
        plugins.hook.maskforge_checkpoint(path=path, step=config.steps)
    plugins.hook.maskforge_run_end(run_dir=out, metrics={"test_accuracy": accuracy})
    console.print(f"test accuracy {accuracy:.3f} at density {summary['density']:.4f}; "
                  f"exploration rate {summary['exploration_rate']:.4f}; {summary['seconds']} s")
    if out is not None:
        console.print(f"wrote {out / 'metrics.jsonl'}, {out / 'summary.json'} and {out / 'checkpoint.pt'}")
    return summary
