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
from baselines import attach_sorted_edge_popup, attach_torch_prune, sort_update

from maskforge.sparsity import native

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
    topk_numel: int
    topk_tensors: int
    biggan_width: float
    update_width: float
    update_resolution: int
    ep_width: float
    ep_resolution: int
    compact_width: float


FULL = Sizes(repeats=5, step_repeats=12, topk_numel=64 << 20, topk_tensors=8, biggan_width=1.0,
             update_width=1.0, update_resolution=64, ep_width=0.25, ep_resolution=64, compact_width=1.0)
QUICK = Sizes(repeats=3, step_repeats=4, topk_numel=4 << 20, topk_tensors=4, biggan_width=0.25,
              update_width=0.25, update_resolution=64, ep_width=0.125, ep_resolution=32, compact_width=0.25)


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


def bench_update(s: Sizes, device: torch.device) -> list[Row]:
    """prune_and_grow (magnitude drop, gradient growth) on the GFMN generator vs one copy pass."""
    from maskforge import prune_and_grow
    from maskforge.models import GFMNGenerator
    from maskforge.plugin_system.manager import get_plugins
    from maskforge.sparsity.update import drop_counts

    def make(**engine_options):
        torch.manual_seed(0)
        model = GFMNGenerator(resolution=s.update_resolution, width=s.update_width).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        engine = _sparse_engine(model, 0.1, opt, **engine_options)
        z = torch.randn(2, model.dim_z, generator=torch.Generator().manual_seed(1)).to(device)
        model(z).square().mean().backward()
        opt.step()  # Adam state exists (and is reset by the updates)
        opt.zero_grad(set_to_none=True)
        model(z).square().mean().backward()  # the dense gradient the grower ranks
        return engine, opt

    checked, _ = make()
    unchecked, _ = make(check_invariants=False)
    baseline, baseline_opt = make()
    masks = {n: m.clone() for n, m in baseline.mask.items()}
    plugins = get_plugins()
    pruner, grower = plugins.create("pruner", "magnitude"), plugins.create("grower", "gradient")
    params = list(checked.params.values())
    buffers = [p.detach().clone() for p in params]
    sources = [p.detach() for p in params]
    def select(grow: bool):
        """The update's selections alone, on the same (evolving) state, without applying them."""
        def run():
            ctx = checked.context()
            drop = pruner.drop(ctx, drop_counts(ctx.mask.nnz(), 0.3, pooled=False))
            if grow:
                grower.grow(ctx, ctx.mask - drop, drop.nnz())
        return run

    t = interleaved({
        "copy": lambda: torch._foreach_copy_(buffers, sources),
        "maskforge": lambda: prune_and_grow(checked, pruner, grower, 0.3),
        "unchecked": lambda: prune_and_grow(unchecked, pruner, grower, 0.3),
        "sort": lambda: sort_update(baseline.params, masks, baseline_opt, 0.3),
        "drop": select(grow=False),
        "select": select(grow=True),
    }, s.repeats, device)
    paths = ["1", "0"] if native.enabled() else ["0"]
    trained = _update_between_training_steps(make, pruner, grower, 2 * s.repeats + 1, device, paths)
    n = sum(p.numel() for p in params) / 1e6
    label = (f"prune+grow update in a training loop, GFMN G ({n:.1f}M sparsified params), density 0.1, drop 0.3, "
             f"compiled kernels: {native.kernel_in_use()}")
    pure = [Row("  same, pure torch + numpy path (MASKFORGE_NATIVE=0), rounds interleaved with the row above",
                "one copy pass, timed just before it", *trained["0"], None)] if len(paths) > 1 else []
    return [
        Row(label, "one copy pass over those params, timed just before it", *trained[paths[0]], 10.0),
        *pure,
        Row("  same update repeated on an unchanged state (no training in between)", "one copy pass", t["maskforge"], t["copy"], None),
        Row("  same, engine built with check_invariants=False", "one copy pass", t["unchecked"], t["copy"], None),
        Row("  of which: the pruner's selection (|w| of the active entries)", "one copy pass", t["drop"], t["copy"], None),
        Row("  of which: the grower's selection (one pass over |grad|)", "one copy pass", t["select"] - t["drop"], t["copy"], None),
        Row("  of which: the engine applying it (checks, writes at the changed entries)", "one copy pass",
            t["maskforge"] - t["select"], t["copy"], None),
        Row("  sort-based update (torch.sort of |w| and |grad| per layer)", "one copy pass", t["sort"], t["copy"], None),
        Row("  sort-based update", "the repeated maskforge update", t["sort"], t["maskforge"], None),
    ]


def _update_between_training_steps(make, pruner, grower, repeats: int, device: torch.device,
                                   paths: list[str]) -> dict[str, tuple[float, float]]:
    """Median seconds of an update made after two (untimed) Adam steps, as in a run, and of a
    copy pass over the same parameters timed right before it in the same loop; per value of
    ``MASKFORGE_NATIVE`` in ``paths``, taking turns round by round on the same engine."""
    from maskforge import prune_and_grow

    engine, opt = make()
    model = engine.model
    z = torch.randn(2, model.dim_z, generator=torch.Generator().manual_seed(2)).to(device)
    params = list(engine.params.values())
    buffers = [p.detach().clone() for p in params]
    updates = {path: [] for path in paths}
    copies = {path: [] for path in paths}
    saved = os.environ.get("MASKFORGE_NATIVE")
    try:
        for i in range(len(paths) * (repeats + 1)):  # the first round of each path warms up
            path = paths[i % len(paths)]
            os.environ["MASKFORGE_NATIVE"] = path
            for step in range(3):  # two training steps, then the backward whose gradient the grower ranks
                opt.zero_grad(set_to_none=True)
                model(z).square().mean().backward()
                if step < 2:
                    opt.step()
            _sync(device)
            start = time.perf_counter()
            torch._foreach_copy_(buffers, [p.detach() for p in params])
            _sync(device)
            middle = time.perf_counter()
            prune_and_grow(engine, pruner, grower, 0.3)
            _sync(device)
            if i >= len(paths):
                copies[path].append(middle - start)
                updates[path].append(time.perf_counter() - middle)
    finally:
        if saved is None:
            os.environ.pop("MASKFORGE_NATIVE", None)
        else:
            os.environ["MASKFORGE_NATIVE"] = saved
    return {path: (statistics.median(updates[path]), statistics.median(copies[path])) for path in paths}


def bench_topk(s: Sizes, device: torch.device) -> list[Row]:
    """Exact global top-k over several tensors vs torch.kthvalue / torch.topk on their concatenation."""
    from maskforge.sparsity.selection import select_topk_global

    gen = torch.Generator(device=device).manual_seed(0)
    flat = torch.randn(s.topk_numel, generator=gen, device=device)
    parts = {f"t{i}": chunk for i, chunk in enumerate(flat.chunk(s.topk_tensors))}
    numel = flat.numel()
    label = f"exact global top-k mask, {numel / 2**20:.0f}M scores in {len(parts)} tensors"
    rows = []
    for density in (0.1, 0.5):
        k = int(density * numel)
        fns = {
            "maskforge": lambda k=k: select_topk_global(parts, k),
            "kthvalue": lambda k=k: torch.kthvalue(flat if device.type != "mps" else flat.cpu(), numel - k + 1),
        }
        if density == 0.1:
            fns["topk"] = lambda k=k: torch.topk(flat, k, sorted=False)
        t = interleaved(fns, s.repeats, device)
        rows.append(Row(f"{label}, k={density:.0%}", "torch.kthvalue (threshold only)", t["maskforge"], t["kthvalue"], 0.25))
        if "topk" in t:
            rows.append(Row(f"{label}, k={density:.0%}", "torch.topk (values+indices)", t["maskforge"], t["topk"], None))
    return rows


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
    from maskforge.storage.compact import compact_state_dict, expand_state_dict
    from maskforge.models import BigGANGenerator

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
    return f"{value:.1f} s" if value >= 10 else f"{value * 1e3:.1f} ms"


def render(rows: list[Row], console: Console) -> None:
    table = Table(title="maskforge benchmarks (ratio = measured / compared, same process, interleaved medians)")
    for col in ("figure", "compared with", "measured", "compared", "ratio", "target", "met"):
        table.add_column(col, justify="right" if col in ("measured", "compared", "ratio") else "left")
    for row in rows:
        if row.compared is None:
            ratio, target = "—", "reported" if row.target is None else f"<= {row.target:g} s"
            compared = "—"
        else:
            ratio, target = f"{row.value:.3f}", "reported" if row.target is None else f"<= {row.target:g}"
            compared = _fmt(row.compared, row.unit)
        table.add_row(row.figure, row.compared_with, _fmt(row.measured, row.unit), compared, ratio, target, row.met())
    console.print(table)


BENCHES = {"step": bench_train_step, "update": bench_update, "topk": bench_topk, "edge_popup": bench_edge_popup, "compact": bench_compact}


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
        f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, compiled kernels: {native.kernel_in_use()}; "
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
