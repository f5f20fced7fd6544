"""Side-by-side performance ratios of maskforge's hot paths.

    python bench/run.py                 # all benchmarks, defaults below
    python bench/run.py --numel 64M     # larger selection benchmark

Every row is a ratio of two timings taken in the same process, interleaved, median of
``--repeats`` runs, so machine noise affects both sides alike. Nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table
from torch import nn


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


def bench_topk(numel: int, density: float, repeats: int, device: torch.device) -> list[tuple]:
    from maskforge.selection import select_topk

    gen = torch.Generator(device=device).manual_seed(0)
    scores = torch.randn(numel, generator=gen, device=device)
    k = int(density * numel)
    t = interleaved(
        {
            "maskforge": lambda: select_topk(scores, k),
            "kthvalue": lambda: torch.kthvalue(scores.cpu() if device.type == "mps" else scores, numel - k + 1),
            "topk": lambda: torch.topk(scores, k, sorted=False),
        },
        repeats,
        device,
    )
    label = f"exact top-k mask, {numel / 2**20:.0f}M scores, k={density:.0%}"
    return [
        (label, "torch.kthvalue (threshold only)", t["maskforge"], t["kthvalue"], "<= 0.25"),
        (label, "torch.topk (values+indices)", t["maskforge"], t["topk"], "reported"),
    ]


def _step_model(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(width * 16 * 16, 10),
    )


def bench_train_step(width: int, batch: int, density: float, repeats: int, device: torch.device) -> list[tuple]:
    import torch.nn.utils.prune as tprune

    from maskforge import SparseEngine, erdos_renyi_kernel
    from maskforge.sparsify import allocate, init_mask

    torch.manual_seed(0)
    x = torch.randn(batch, 3, 16, 16, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def make():
        model = _step_model(width).to(device)
        return model, torch.optim.Adam(model.parameters(), lr=1e-4)

    dense, dense_opt = make()
    sparse, sparse_opt = make()
    mask = init_mask(sparse, allocate(sparse, density, erdos_renyi_kernel), generator=torch.Generator().manual_seed(0))
    SparseEngine(sparse, mask, sparse_opt)
    pruned, pruned_opt = make()
    for (name, module) in pruned.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            tprune.custom_from_mask(module, "weight", mask[f"{name}.weight"])
    pruned_opt = torch.optim.Adam(pruned.parameters(), lr=1e-4)

    def step(model, opt):
        def run():
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        return run

    t = interleaved({"dense": step(dense, dense_opt), "maskforge": step(sparse, sparse_opt),
                     "torch.prune": step(pruned, pruned_opt)}, repeats, device)
    label = f"masked train step, conv net width {width}, batch {batch}, density {density}"
    return [
        (label, "same model dense", t["maskforge"], t["dense"], "<= 1.05"),
        ("torch.nn.utils.prune step (weight_orig*mask each forward)", "same model dense", t["torch.prune"], t["dense"], "reported"),
    ]


def parse_numel(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in "KMG" else text) * scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numel", type=parse_numel, default=parse_numel("16M"), help="scores for the top-k rows (default 16M)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--width", type=int, default=64, help="conv width of the train-step model")
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    console = Console(width=160)
    console.print(
        f"torch {torch.__version__}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f" ({platform.processor() or platform.machine()})")
        + f", {torch.get_num_threads()} threads, python {platform.python_version()}"
    )
    rows = []
    rows += bench_topk(args.numel, 0.1, args.repeats, device)
    rows += bench_topk(args.numel, 0.5, args.repeats, device)
    rows += bench_train_step(args.width, 32, 0.1, max(args.repeats, 10), device)

    table = Table(title="maskforge benchmarks (ratio = measured / compared, same process, interleaved)")
    for col in ("figure", "compared with", "measured", "compared", "ratio", "target"):
        table.add_column(col, justify="right" if col in ("measured", "compared", "ratio") else "left")
    for label, other, ours, theirs, target in rows:
        table.add_row(label, other, f"{ours * 1e3:.1f} ms", f"{theirs * 1e3:.1f} ms", f"{ours / theirs:.3f}", target)
    console.print(table)


if __name__ == "__main__":
    main()
