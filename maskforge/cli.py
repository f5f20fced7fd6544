"""The ``maskforge`` command line.

    maskforge run RECIPE [--set a.b=v]... [--device D] [--out DIR] [--resume]
                                           train a recipe (e.g. recipes/stu_digits.py)
    maskforge plugins                      list plugins, versions, hooks and registered names
    maskforge quickstart [--out DIR]       train a dynamic-sparse classifier on the bundled digits

Global options (before the command): ``--block-plugin NAME`` (repeatable) skips a plugin,
``--strict-plugins`` turns a plugin that fails to load into an error, ``--debug`` shows the
traceback of an error instead of the one-line message. Errors exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from maskforge.errors import MaskforgeError
from maskforge.plugin_system.manager import Plugins, load_plugins, set_plugins


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _density(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"density must be a number in (0, 1], got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"density must be in (0, 1] (fraction of weights kept), got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskforge", description="Sparsity as an algebra of masks.")
    parser.add_argument("--block-plugin", action="append", default=[], metavar="NAME",
                        help="do not load the plugin with this entry-point name (repeatable)")
    parser.add_argument("--strict-plugins", action="store_true",
                        help="fail when a plugin cannot be loaded (default: warn and skip it)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="train a recipe: maskforge run recipes/stu_digits.py")
    run.add_argument("recipe", type=Path, help="a Python file defining a module-level `recipe`")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                     help="override a recipe field, type-checked (repeatable), e.g. --set train.steps=100")
    run.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: the recipe's train.device)")
    run.add_argument("--out", type=Path, default=None, help="run directory (default: runs/<recipe name>)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")

    ev = sub.add_parser("eval", help="sample-quality metrics (FID, KID, PRDC, IS) of a run, with provenance")
    ev.add_argument("path", type=Path, help="a run directory or a checkpoint file")
    ev.add_argument("--extractor", default="auto", help="auto, tf_inception, inception_v3 or digits (default auto)")
    ev.add_argument("--samples", type=_positive_int, default=2000, help="generated images (default 2000)")
    ev.add_argument("--reference", type=_positive_int, default=10000, help="training images for the reference statistics (default 10000)")
    ev.add_argument("--batch-size", type=_positive_int, default=100)
    ev.add_argument("--inception-weights", default=None, help="local Inception-v3 weights file (inception_v3 extractor)")
    ev.add_argument("--no-cache", action="store_true", help="do not read or write cached reference statistics")

    ins = sub.add_parser("inspect", help="per-layer shape, density, nnz and FLOPs of a checkpoint; testing/training FLOPs")
    ins.add_argument("path", type=Path, help="a checkpoint file or a run directory")

    exp = sub.add_parser("export", help="write a lossless compact generator from a checkpoint")
    exp.add_argument("path", type=Path, help="a checkpoint file or a run directory")
    exp.add_argument("out", type=Path, help="the file to write (e.g. generator.mfz)")

    sub.add_parser("plugins", help="list plugins, their versions, hooks and registered names")

    quick = sub.add_parser("quickstart", help="train a dynamic-sparse classifier on the bundled digits")
    quick.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="run directory (default: runs/quickstart)")
    quick.add_argument("--steps", type=_positive_int, default=600, help="training steps (default: 600)")
    quick.add_argument("--density", type=_density, default=0.1, help="fraction of weights kept (default: 0.1)")
    quick.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "maskforge" / "reference"


def plugins_table(plugins: Plugins) -> Table:
    """The rich table ``maskforge plugins`` prints."""
    table = Table(title="maskforge plugins", show_lines=True)
    table.add_column("plugin", style="bold")
    table.add_column("version")
    table.add_column("status")
    table.add_column("hooks")
    table.add_column("registers")
    for name, info in plugins.infos.items():
        entries = plugins.registry.by_plugin(name)
        by_kind: dict[str, list[str]] = {}
        for entry in entries:
            by_kind.setdefault(entry.kind, []).append(entry.name)
        registers = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in by_kind.items()) or "-"
        status = info.status if not info.error else f"{info.status}: {info.error}"
        table.add_row(f"{name}\n[dim]{info.source}[/]", info.version, status, "\n".join(info.hooks) or "-", registers)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=140)
    err_console = Console(stderr=True, highlight=False)
    try:
        plugins = load_plugins(strict=True if args.strict_plugins else None, block=args.block_plugin)
        set_plugins(plugins)
        if args.command == "run":
            from maskforge.runs import run_recipe
            from maskforge.runs.overrides import apply_overrides
            from maskforge.runs.recipe_loader import load_run_recipe

            recipe = apply_overrides(load_run_recipe(args.recipe), args.overrides)
            run_recipe(recipe, out_dir=args.out, device=args.device, resume=args.resume, plugins=plugins, console=console)
        elif args.command == "eval":
            from maskforge.metrics.evaluate import evaluate

            report = evaluate(args.path, plugins=plugins, extractor=args.extractor, n_samples=args.samples,
                              n_reference=args.reference, batch_size=args.batch_size,
                              inception_weights=args.inception_weights, cache_dir=None if args.no_cache else _cache_dir())
            table = Table(title=f"metrics of {report['provenance']['checkpoint']}")
            table.add_column("metric")
            table.add_column("value", justify="right")
            for name, value in report["metrics"].items():
                table.add_row(name, f"{value:.4f}")
            console.print(table)
            for key, value in report["provenance"].items():
                console.print(f"  {key}: {value}", soft_wrap=True)
        elif args.command == "inspect":
            from maskforge.metrics.inspection import inspect_checkpoint, layer_table, summary_lines

            report = inspect_checkpoint(args.path, plugins)
            for network in report["networks"]:
                console.print(layer_table(report, network))
            for line in summary_lines(report):
                console.print(line, soft_wrap=True)
        elif args.command == "export":
            from maskforge.runs.export import export_generator

            info = export_generator(args.path, args.out, plugins)
            console.print(f"wrote {info['path']}: {info['bytes']:,} bytes ({info['bytes'] / info['dense_bytes']:.3f}x the dense "
                          f"state dict's {info['dense_bytes']:,} bytes) at density {info['density']:.4f}", soft_wrap=True)
        elif args.command == "plugins":
            console.print(plugins_table(plugins))
        elif args.command == "quickstart":
            from maskforge.runs.quickstart import QuickstartConfig, run_quickstart

            config = QuickstartConfig(steps=args.steps, density=args.density, seed=args.seed)
            run_quickstart(args.out, config, plugins=plugins, console=console)
        return 0
    except Exception as err:
        from maskforge.runs.runner import RunInterrupted

        if args.debug or not isinstance(err, (MaskforgeError, ValueError, TypeError, OSError, RuntimeError, KeyError)):
            raise
        message = " ".join(str(err).split())
        err_console.print(f"maskforge: {'stopped' if isinstance(err, RunInterrupted) else 'error'}: {message}", markup=False, soft_wrap=True)
        return 128 + err.signum if isinstance(err, RunInterrupted) else 2
    except KeyboardInterrupt:
        err_console.print("maskforge: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
