"""``maskforge inspect``: per-layer shape, density, nnz and FLOPs of a checkpoint's networks, and
the run's testing / training FLOPs normalised to dense (STU-GAN Table 2's format)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from maskforge.metrics import flops
from maskforge.storage.checkpoint import load
from maskforge.runs.export import is_export, load_generator
from maskforge.plugin_system.manager import Plugins
from maskforge.runs.restore import load_run


def inspect_checkpoint(path: Path | str, plugins: Plugins | None = None) -> dict:
    """Everything ``maskforge inspect`` prints, as a dict (run checkpoints and generator exports)."""
    path = Path(path)
    if path.is_file() and is_export(load(path)):
        G, mask, recipe, meta = load_generator(path, plugins)
        networks = {"G": (G, mask)}
        run = None
        report: dict = {"checkpoint": str(path), "recipe": recipe.name, "step": meta["step"], "networks": {}, "export": True}
    else:
        run = load_run(path, plugins, averaged=False)
        networks = {"G": (run.G, run.g_strategy.mask)}
        if run.D is not None:
            networks["D"] = (run.D, run.d_strategy.mask)
        report = {"checkpoint": str(run.path), "recipe": run.recipe.name, "step": run.state["progress"]["step"], "networks": {}}
    costs = flops.costs_by_network(networks)
    for name, layer_list in costs.items():
        mask = networks[name][1]
        report["networks"][name] = {
            "layers": [
                {"module": c.module, "param": c.param, "shape": list(c.shape), "density": c.density, "nnz": c.nnz,
                 "dense_flops": c.dense_flops, "sparse_flops": c.sparse_flops}
                for c in layer_list
            ],
            "param_density": mask.total_density,
            "nnz": mask.total_nnz,
            "numel": mask.total_numel,
            "dense_flops": flops.total(layer_list, sparse=False),
            "sparse_flops": flops.total(layer_list, sparse=True),
        }
    g = report["networks"]["G"]
    report["testing_flops"] = g["sparse_flops"]
    report["testing_flops_ratio"] = g["sparse_flops"] / g["dense_flops"]
    if run is not None and run.D is not None:
        d = report["networks"]["D"]
        cost = flops.GANCost(g["dense_flops"], g["sparse_flops"], d["dense_flops"], d["sparse_flops"])
        t = run.recipe.train
        strategy = run.g_strategy
        k = t.accumulate  # micro-batches per step: the batches a step processes
        kwargs = {"steps": t.steps, "batch_g": k * t.batch_size, "batch_d": k * (t.d_batch_size or t.batch_size),
                  "d_steps": t.d_steps}
        update_every = getattr(strategy, "update_every", None) if getattr(strategy, "explore", False) else None
        sparse_total = flops.gan_training_flops(cost, g_density_rounds=flops.strategy_rounds(strategy), update_every=update_every, **kwargs)
        dense_total = flops.gan_training_flops(cost, dense=True, **kwargs)
        if getattr(strategy, "init_score", None) == "magnitude":
            # prune-and-finetune prunes a trained dense model: its cost includes that training
            # ("the overall FLOPs to obtain the final sparse generator", STU-GAN Table 2)
            sparse_total += dense_total
            report["training_flops_includes_dense_pretraining"] = True
        report["training_flops"] = sparse_total
        report["training_flops_dense"] = dense_total
        report["training_flops_ratio"] = sparse_total / dense_total
    return report


def layer_table(report: dict, network: str) -> Table:
    net = report["networks"][network]
    table = Table(title=f"{network} of {report['recipe']} (step {report['step']})")
    for col in ("layer", "shape", "density", "nnz", "GFLOPs dense", "GFLOPs sparse"):
        table.add_column(col, justify="left" if col in ("layer", "shape") else "right")
    for layer in net["layers"]:
        table.add_row(layer["module"], "x".join(map(str, layer["shape"])) or "-", f"{layer['density']:.4f}", f"{layer['nnz']:,}",
                      f"{layer['dense_flops'] / 1e9:.4f}", f"{layer['sparse_flops'] / 1e9:.4f}")
    table.add_row("total", "", f"{net['param_density']:.4f}", f"{net['nnz']:,}", f"{net['dense_flops'] / 1e9:.4f}",
                  f"{net['sparse_flops'] / 1e9:.4f}", style="bold")
    return table


def summary_lines(report: dict) -> list[str]:
    g = report["networks"]["G"]
    lines = [
        (
            f"testing FLOPs per image: {report['testing_flops'] / 1e9:.4f} GFLOPs = {report['testing_flops_ratio']:.3f}x dense "
            f"({g['dense_flops'] / 1e9:.3f} GFLOPs); G parameter density {g['param_density']:.3f} "
            "(STU-GAN Table 2 reports testing FLOPs as this density)"
        ),
    ]
    if "training_flops" in report:
        lines.append(
            f"training FLOPs of the run: {report['training_flops']:.3e} = {report['training_flops_ratio']:.3f}x the dense GAN "
            f"({report['training_flops_dense']:.3e})"
        )
        lines.append(f"Table 2 format: ({report['training_flops_ratio']:.2f}x, {report['testing_flops_ratio']:.2f}x)")
    return lines
