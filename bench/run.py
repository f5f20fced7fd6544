"""Side-by-side performance ratios of maskforge's hot paths, with the target beside each.

    python bench/run.py                  # every row at full size (about a minute on 2 CPU cores)
    python bench/run.py --with-run       # ... plus the wall time of `maskforge run recipes/stu_digits.py`
    python bench/run.py --quick          # smaller sizes, a smoke test (well under a minute)

Every ratio divides two timings taken in the same process, interleaved (round-robin, after one
warm-up call each) and reduced to their medians, so machine noise affects both sides alike; sizes
are compared the same way. Runs on CUDA when available, else on the CPU (``--device`` to choose).
Nothing here is asserted in tests. The baselines (what users would otherwise write) are in
``bench/baselines.py``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import attach_sorted_edge_popup, attach_torch_prune

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    figure: str
    compared_with: str
    measured: float
    compared: float | None  # None: an absolute figure (compared with its target directly)
    target: float | None  # upper bound on the ratio (or on the absolute figure); None: reported
    unit: str = "s"  # "s" or "B"

    @property
    def value(self) -> float:
        return self.measured / self.compared if self.compared is not None else self.measured

    def met(self) -> str:
        if self.target is None:
            return "reported"
        return "yes" if self.value <= self.target else "NO"


@dataclass
class Sizes:
    repeats: int
    step_repeats: int
    biggan_width: float
    amortised_width: float
    amortised_steps: int
    ep_width: float
    ep_resolution: int
    compact_width: float


FULL = Sizes(repeats=5, step_repeats=12, biggan_width=1.0, amortised_width=0.125, amortised_steps=500,
             ep_width=0.25, ep_resolution=64, compact_width=1.0)
QUICK = Sizes(repeats=3, step_repeats=4, biggan_width=0.25, amortised_width=0.125, amortised_steps=10,
              ep_width=0.125, ep_resolution=32, compact_width=0.25)


# -- timing ---------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each function, measured round-robin after one warm-up call each."""
    for fn in fns.values():
        fn()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def copy_pass_seconds(numel: int, repeats: int, device: torch.device) -> float:
    src = torch.randn(numel, device=device)
    dst = torch.empty_like(src).zero_()
    return interleaved({"copy": lambda: dst.copy_(src)}, repeats, device)["copy"]


def _sparse_engine(model, density: float, optimizer, **options):
    from maskforge import SparseEngine, erdos_renyi_kernel
    from maskforge.sparsity.sparsify import allocate, init_mask

    mask = init_mask(model, allocate(model, density, erdos_renyi_kernel), generator=torch.Generator().manual_seed(0))
    return SparseEngine(model, mask, optimizer, **options)


# -- rows -----------------------------------------------------------------------------------------


def bench_train_step(s: Sizes, device: torch.device) -> list[Row]:
    """BigGAN-C10 G (batch 8): engine-masked step and torch.nn.utils.prune step vs dense."""
    from maskforge.models import BigGANGenerator

    def make():
        torch.manual_seed(0)
        model = BigGANGenerator(resolution=32, width=s.biggan_width, n_classes=10).to(device)
        return model, torch.optim.Adam(model.parameters(), lr=1e-4)

    dense, dense_opt = make()
    sparse, sparse_opt = make()
    engine = _sparse_engine(sparse, 0.1, sparse_opt)
    pruned, _ = make()
    attach_torch_prune(pruned, engine.mask)
    pruned_opt = torch.optim.Adam(pruned.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(8, 128, generator=gen).to(device)
    y = torch.randint(0, 10, (8,), generator=gen).to(device)

    def step(model, opt):
        def run():
            opt.zero_grad(set_to_none=True)
            model(z, y).square().mean().backward()
            opt.step()
        return run

    t = interleaved({"dense": step(dense, dense_opt), "maskforge": step(sparse, sparse_opt),
                     "prune": step(pruned, pruned_opt)}, s.step_repeats, device)
    n = sum(p.numel() for p in dense.parameters()) / 1e6
    label = f"masked dynamic-sparse train step, BigGAN-C10 G ({n:.1f}M params, width {s.biggan_width}), batch 8, density 0.1 ERK"
    return [
        Row(label, "same model dense", t["maskforge"], t["dense"], 1.05),
        Row("same step with torch.nn.utils.prune (weight_orig*mask each forward)", "same model dense", t["prune"], t["dense"], None),
    ]


def bench_amortised(s: Sizes, device: torch.device) -> list[Row]:
    """What users pay for mask updates: N train steps of the BigGAN-C10 recipe (reduced width)
    with its strategies (G: stu_gan at its ΔT, one update included; D: 50% static) against N
    dense steps of the same models, in blocks of ΔT/10 steps taken in turn (ABBA order) in one
    process. The ratio divides the two sums of step times: what the whole run costs."""
    from maskforge.plugin_system.manager import get_plugins
    from maskforge.runs.recipe_loader import load_recipe

    recipe = load_recipe(REPO / "recipes" / "stu_biggan.py")
    plugins = get_plugins()
    every = s.amortised_steps  # the recipe's ΔT (500) at full size
    r, data = recipe.train, recipe.data
    loss = plugins.create("loss", recipe.loss.name)

    def make(sparse: bool):
        torch.manual_seed(0)
        common = {"resolution": data.resolution, "channels": data.channels, "n_classes": 10}
        G = plugins.create("model", recipe.generator.name, **{**common, **recipe.generator.options, "width": s.amortised_width}).to(device)
        D = plugins.create("model", recipe.discriminator.name, **{**common, **recipe.discriminator.options, "width": s.amortised_width}).to(device)
        opt_g = torch.optim.Adam(G.parameters(), lr=recipe.g_optimizer.lr, betas=recipe.g_optimizer.betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=recipe.d_optimizer.lr, betas=recipe.d_optimizer.betas)
        strategies = None
        if sparse:
            strategies = []
            for model, opt, spec, network in ((G, opt_g, recipe.g_sparsity, "G"), (D, opt_d, recipe.d_sparsity, "D")):
                options = {**spec.options, **({"update_every": every} if network == "G" else {})}
                strategy = plugins.create("strategy", spec.strategy, **options)
                strategy.attach(model, network=network, generator=torch.Generator().manual_seed(1), total_steps=r.steps)
                strategy.bind(opt)
                strategies.append(strategy)
        return {"G": G, "D": D, "opt_g": opt_g, "opt_d": opt_d, "strategies": strategies, "step": 0, "d_step": 0,
                "updates": []}

    gen = torch.Generator(device=device).manual_seed(2)
    reals = torch.rand(4, r.batch_size, data.channels, data.resolution, data.resolution, generator=gen, device=device) * 2 - 1
    labels = torch.randint(0, 10, (4, r.batch_size), generator=gen, device=device)

    def step(arm) -> None:
        G, D, opt_g, opt_d = arm["G"], arm["D"], arm["opt_g"], arm["opt_d"]
        g_strategy, d_strategy = arm["strategies"] or (None, None)
        arm["step"] += 1
        for _ in range(r.d_steps):
            arm["d_step"] += 1
            i = arm["d_step"] % len(reals)
            z = torch.randn(r.batch_size, G.dim_z, generator=gen, device=device)
            with torch.no_grad():
                fake = G(z, labels[i])
            opt_d.zero_grad(set_to_none=True)
            loss.discriminator(D(reals[i], labels[i]), D(fake, labels[i])).backward()
            if d_strategy:
                d_strategy.before_step(arm["d_step"])
            opt_d.step()
            if d_strategy:
                d_strategy.after_step(arm["d_step"])
        D.requires_grad_(False)
        z = torch.randn(r.batch_size, G.dim_z, generator=gen, device=device)
        opt_g.zero_grad(set_to_none=True)
        loss.generator(D(G(z, labels[0]), labels[0])).backward()
        if g_strategy:
            g_strategy.before_step(arm["step"])
        opt_g.step()
        if g_strategy:
            _sync(device)
            began = time.perf_counter()
            if g_strategy.after_step(arm["step"]) is not None:  # the mask update happened here
                _sync(device)
                arm["updates"].append(time.perf_counter() - began)
        D.requires_grad_(True)

    arms = {"sparse": make(True), "dense": make(False)}
    for arm in arms.values():  # a warm-up step each, not counted (the schedule then restarts at step 1)
        step(arm)
        arm["step"] = arm["d_step"] = 0
    block = max(1, every // 10)
    times: dict[str, list[float]] = {"sparse": [], "dense": []}
    for i, start in enumerate(range(0, every, block)):
        for name in ("sparse", "dense") if i % 2 == 0 else ("dense", "sparse"):  # ABBA: no order bias
            arm = arms[name]
            for _ in range(min(block, every - start)):
                _sync(device)
                began = time.perf_counter()
                step(arm)
                _sync(device)
                times[name].append(time.perf_counter() - began)
    (update,) = arms["sparse"]["updates"]  # exactly one update in the timed steps
    sparse_step, dense_step = statistics.median(times["sparse"]), statistics.median(times["dense"])
    # Whole-run cost from medians (robust to this machine's occasional stalls of a step), with the
    # update's own time added once; the plain sums of every step are shown beside it.
    amortised = every * sparse_step + update
    label = (f"{every} train steps of stu_biggan (width {s.amortised_width}, batch {r.batch_size}, {r.d_steps} D steps), "
             f"G stu_gan with 1 update (ΔT={every}), D static: {every} x median step + the update")
    return [
        Row(f"amortised mask overhead: {label}", f"{every} x median dense step, same models", amortised, every * dense_step, 1.01),
        Row("  same, plain sums of all step times", f"sum of {every} dense step times", sum(times["sparse"]), sum(times["dense"]), None),
        Row("  update event (the mask update's own time)", "one sparse train step (median)", update, sparse_step, None),
        Row("  per-step masking (median sparse step without an update)", "median dense step", sparse_step, dense_step, None),
    ]


def bench_lines(s: Sizes, device: torch.device) -> list[Row]:
    """Lines in the selection + mask-update path (selection module, engine, mask)."""
    files = ["selection.py", "engine.py", "mask.py"]
    lines = sum(len((REPO / "maskforge" / "sparsity" / f).read_text().splitlines()) for f in files)
    return [Row("lines in maskforge/sparsity/{selection,engine,mask}.py (wc -l)", "—", lines, None, 900, unit="lines")]


def bench_edge_popup(s: Sizes, device: torch.device) -> list[Row]:
    """Edge-popup train step (scores trained, weights frozen) vs the dense step and a sorting edge-popup."""
    from maskforge.models import GFMNGenerator
    from maskforge.plugin_system.manager import get_plugins

    def make():
        torch.manual_seed(0)
        return GFMNGenerator(resolution=s.ep_resolution, width=s.ep_width).to(device)

    dense = make()
    dense_opt = torch.optim.Adam(dense.parameters(), lr=1e-4)
    ep = make()
    strategy = get_plugins().create("strategy", "edge_popup", density=0.1)
    strategy.attach(ep)
    ep_opt = torch.optim.Adam(strategy.trainable_parameters(), lr=1e-2)
    strategy.bind(ep_opt)
    naive = make()
    naive_opt = torch.optim.Adam(attach_sorted_edge_popup(naive, list(strategy.selector.scores), 0.1), lr=1e-2)
    z = torch.randn(8, dense.dim_z, generator=torch.Generator().manual_seed(1)).to(device)

    def step(model, opt):
        def run():
            opt.zero_grad(set_to_none=True)
            model(z).square().mean().backward()
            opt.step()
        return run

    t = interleaved({"dense": step(dense, dense_opt), "maskforge": step(ep, ep_opt), "sorted": step(naive, naive_opt)},
                    s.step_repeats, device)
    n = sum(p.numel() for p in dense.parameters()) / 1e6
    label = f"edge-popup train step, GFMN G ({n:.2f}M params, width {s.ep_width}, {s.ep_resolution}px), batch 8, density 0.1"
    return [
        Row(label, "dense train step", t["maskforge"], t["dense"], 1.3),
        Row("  edge-popup sorting |scores| every forward (Ramanujan et al.)", "dense train step", t["sorted"], t["dense"], None),
    ]


def _saved_bytes(obj) -> int:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return len(buffer.getvalue())


def bench_compact(s: Sizes, device: torch.device) -> list[Row]:
    """Compact checkpoint of a 95%-sparse BigGAN-C10 G vs its dense torch.save."""
    from maskforge.models import BigGANGenerator
    from maskforge.storage.compact import compact_state_dict, expand_state_dict

    torch.manual_seed(0)
    model = BigGANGenerator(resolution=32, width=s.compact_width, n_classes=10)
    engine = _sparse_engine(model, 0.05, torch.optim.Adam(model.parameters()))
    state = model.state_dict()
    dense = _saved_bytes(state)
    exact = compact_state_dict(state)
    canonical = compact_state_dict(state, keep_zero_signs=False)
    back = expand_state_dict(exact)
    assert all(torch.equal(state[k].reshape(-1).view(torch.uint8), back[k].reshape(-1).view(torch.uint8)) for k in state)
    label = f"compact checkpoint, BigGAN-C10 G (width {s.compact_width}), {1 - engine.mask.total_density:.0%} sparse (ERK)"
    return [
        Row(f"{label}, bit-identical", "dense torch.save", _saved_bytes(exact), dense, 0.085, unit="B"),
        Row(f"{label}, -0.0 stored as +0.0 (keep_zero_signs=False)", "dense torch.save", _saved_bytes(canonical), dense, None, unit="B"),
    ]


def bench_main_job(device: torch.device) -> list[Row]:
    """Wall time of `maskforge run recipes/stu_digits.py` in a subprocess."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "maskforge.cli", "run", str(REPO / "recipes" / "stu_digits.py"),
                   "--out", str(Path(out) / "stu_digits"), "--device", device.type]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL, env={**os.environ, "MASKFORGE_QUIET": "1"})
        wall = time.perf_counter() - start
    return [Row("maskforge run recipes/stu_digits.py (subprocess, wall time)", "—", wall, None, 180.0)]


# -- output ---------------------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _fmt(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 2**20:.2f} MiB"
    if unit == "lines":
        return f"{value:.0f}"
    return f"{value:.1f} s" if value >= 10 else f"{value * 1e3:.1f} ms"


def render(rows: list[Row], console: Console) -> None:
    table = Table(title="maskforge benchmarks (ratio = measured / compared, same process, interleaved medians)")
    for col in ("figure", "compared with", "measured", "compared", "ratio", "target", "met"):
        table.add_column(col, justify="right" if col in ("measured", "compared", "ratio") else "left")
    for row in rows:
        if row.compared is None:
            ratio, target = "—", "reported" if row.target is None else f"<= {row.target:g} {'lines' if row.unit == 'lines' else 's'}"
            compared = "—"
        else:
            ratio, target = f"{row.value:.3f}", "reported" if row.target is None else f"<= {row.target:g}"
            compared = _fmt(row.compared, row.unit)
        table.add_row(row.figure, row.compared_with, _fmt(row.measured, row.unit), compared, ratio, target, row.met())
    console.print(table)


BENCHES = {"step": bench_train_step, "amortised": bench_amortised, "edge_popup": bench_edge_popup, "compact": bench_compact,
           "lines": bench_lines}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (a smoke test)")
    parser.add_argument("--with-run", action="store_true", help="also time `maskforge run recipes/stu_digits.py` (~2 min)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats of each function (default 5, --quick 3)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sizes = QUICK if args.quick else FULL
    if args.repeats is not None:
        sizes.repeats = args.repeats
        sizes.step_repeats = max(args.repeats, sizes.step_repeats)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")

    console = Console(width=200)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    copy = copy_pass_seconds(64 << 20 if not args.quick else 4 << 20, sizes.repeats, device)
    console.print(
        f"torch {torch.__version__}, python {platform.python_version()}, device {device} ({where}), "
        f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads; "
        f"one copy pass over {'64M' if not args.quick else '4M'} floats: {copy * 1e3:.1f} ms"
        + (" [--quick sizes]" if args.quick else "")
    )
    started = time.perf_counter()
    rows: list[Row] = []
    for name in chosen:
        rows += BENCHES[name](sizes, device)
    if args.with_run:
        rows += bench_main_job(device)
    render(rows, console)
    console.print(f"benchmarks took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
