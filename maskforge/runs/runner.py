"""``maskforge run``: build a recipe's components, train, and write the run directory.

Run directory (``--out``, default ``runs/<recipe name>``)::

    recipe.json            the resolved recipe (after --set overrides)
    metrics.jsonl          one JSON object per logged step and per mask update
    samples/step_*.png     sample grids every ``output.sample_every`` G steps; samples/final.png
    checkpoints/           checkpoint_<step>.pt every ``output.checkpoint_every`` steps and at the
                           end (weights, masks, optimizers, averager, strategy, RNG states)
    summary.json           final losses, densities, exploration rates, time
    plots/*.png            losses, exploration rate and density over steps, density per layer

Everything is built and validated before the directory is touched, so a bad recipe or override
fails in one line and leaves nothing behind. ``--resume`` continues from the newest checkpoint.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import attrs
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from maskforge.storage.checkpoint import load
from maskforge.errors import MaskforgeError
from maskforge.plugin_system.manager import Plugins, get_plugins
from maskforge.runs.recipe import GANRecipe, to_json
from maskforge.runs.components import Components, build, resolve_device
from maskforge.runs.distributed import init_distributed, verify_identical_masks
from maskforge.runs.loops import STEPS
from maskforge.runs.outputs import MetricsLog, list_checkpoints, save_samples, write_checkpoint

FORMAT = "maskforge.run/1"


class _NullHook:
    """Stands in for ``plugins.hook`` on ranks other than 0."""

    def __getattr__(self, name):
        return lambda **kwargs: None


class _NullLog:
    def write(self, record: dict) -> None:
        pass

    def close(self) -> None:
        pass


class RunError(MaskforgeError):
    """A run cannot start or continue (existing directory, missing checkpoint, mismatch)."""


@attrs.define
class RunProgress:
    """Where a run stands; saved in every checkpoint, so a resumed run reports the whole run."""

    round: int = 0
    round_step: int = 0
    step: int = 0
    d_step: int = 0
    skipped: int = 0  # steps skipped for a non-finite loss
    seconds: float = 0.0  # training time before this process
    metrics: dict = attrs.field(factory=dict)  # the last step's losses


def _fixed_latents(c: Components, n: int):
    gen = torch.Generator().manual_seed(c.recipe.train.seed + 12345)
    z = torch.randn(n, c.G.dim_z, generator=gen).to(c.device)
    y = torch.arange(n, device=c.device) % c.G.n_classes if getattr(c.G, "n_classes", 0) else None
    return z, y


@torch.no_grad()
def _samples(c: Components, n: int) -> torch.Tensor:
    model = c.G
    if c.averager is not None and c.averager.shadow:
        c.averager.copy_to(c.G_avg)
        model = c.G_avg
    was_training = model.training
    model.eval()
    z, y = _fixed_latents(c, n)
    images = model(z, y)
    model.train(was_training)
    return images


def _grid_columns(c: Components) -> int:
    """One column per class for conditional generators (sample i has label i mod n_classes)."""
    n = getattr(c.G, "n_classes", 0)
    return n if 2 <= n <= 16 else 8


def _rng_state(c: Components) -> dict:
    state = {"torch": torch.get_rng_state(), **{f"gen_{k}": g.get_state() for k, g in c.generators.items()}}
    if c.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(c.device)
    return state


def _set_rng_state(c: Components, state: dict) -> None:
    torch.set_rng_state(state["torch"])
    for k, g in c.generators.items():
        g.set_state(state[f"gen_{k}"])
    if "cuda" in state and c.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], c.device)


def _scheduled_optimizers(c: Components) -> list:
    """``(network, optimizer, spec)`` of the optimizers whose learning rate follows a schedule."""
    return [(net, opt, spec) for net, opt, spec in (("g", c.opt_g, c.recipe.g_optimizer), ("d", c.opt_d, c.recipe.d_optimizer))
            if opt is not None and spec.lr_schedule != "constant"]


def _schedule_learning_rates(c: Components, round_step: int, steps: int) -> None:
    """Set each scheduled optimizer's learning rate for this G step (D's steps within it share it)."""
    for _, opt, spec in _scheduled_optimizers(c):
        for group in opt.param_groups:
            group["lr"] = spec.lr_at(round_step, steps)


def _learning_rates(c: Components) -> dict:
    """``lr_g`` / ``lr_d`` for the log, where a schedule moves them."""
    return {f"lr_{net}": opt.param_groups[0]["lr"] for net, opt, _ in _scheduled_optimizers(c)}


def _payload(c: Components, progress: RunProgress, plugins: Plugins) -> dict:
    payload = {
        "format": FORMAT,
        "progress": attrs.asdict(progress),
        "G": c.G.state_dict(),
        "g_strategy": c.g_strategy.state_dict(),
        "opt_g": c.opt_g.state_dict(),
        "rng": _rng_state(c),
        "n_classes": int(getattr(c.data, "n_classes", 0)),  # rebuilds a conditional G without the dataset
        "recipe": json.dumps(to_json(c.recipe)),
        "plugins": {name: info.version for name, info in plugins.infos.items() if info.status == "loaded"},
    }
    if c.D is not None:
        payload.update(D=c.D.state_dict(), d_strategy=c.d_strategy.state_dict(), opt_d=c.opt_d.state_dict())
    if c.averager is not None:
        payload["averager"] = c.averager.state_dict()
    if hasattr(c.loss, "state_dict"):
        payload["loss"] = c.loss.state_dict()
    return payload


def _restore(c: Components, path: Path) -> RunProgress:
    state = load(path, map_location=c.device)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise RunError(f"{path} is not a maskforge run checkpoint")
    saved = json.loads(state["recipe"])
    current = to_json(c.recipe)
    # What makes the checkpoint's state mean something: the models, data and sparsity (a changed
    # density or strategy would be recorded in recipe.json but not followed).
    for key in ("generator", "discriminator", "data", "trainer", "g_sparsity", "d_sparsity"):
        if saved.get(key) != current.get(key):
            raise RunError(f"checkpoint {path} was made with a different {key} ({saved.get(key)}) than this recipe's ({current.get(key)}); "
                           "resume with the recipe and --set overrides of the original run")
    # Strategies first: one may change the model's form (edge_popup's fine-tuning bakes its
    # score masks into plain weights) before the saved weights are loaded into it.
    c.g_strategy.load_state_dict(state["g_strategy"])
    c.G.load_state_dict(state["G"])
    if c.D is not None:
        c.d_strategy.load_state_dict(state["d_strategy"])
        c.D.load_state_dict(state["D"])
    c.bind_optimizers()
    c.opt_g.load_state_dict(state["opt_g"])
    if c.D is not None:
        c.opt_d.load_state_dict(state["opt_d"])
    if c.averager is not None and "averager" in state:
        c.averager.load_state_dict(state["averager"])
    if "loss" in state and hasattr(c.loss, "load_state_dict"):
        c.loss.load_state_dict(state["loss"])
    _set_rng_state(c, state["rng"])
    return RunProgress(**state["progress"])


def _densities(c: Components) -> dict:
    out = {"g_density": c.g_strategy.mask.total_density, "g_exploration": c.g_strategy.exploration_rate}
    if c.D is not None:
        out.update(d_density=c.d_strategy.mask.total_density, d_exploration=c.d_strategy.exploration_rate)
    return out


def run_recipe(
    recipe: GANRecipe,
    *,
    out_dir: Path | str | None = None,
    device: str | None = None,
    resume: bool = False,
    plugins: Plugins | None = None,
    console: Console | None = None,
) -> dict:
    """Train ``recipe``; returns the summary (also written to ``summary.json``)."""
    plugins = plugins or get_plugins()
    console = console or Console()
    if device:
        recipe = attrs.evolve(recipe, train=attrs.evolve(recipe.train, device=device))
    run_dir = Path(out_dir) if out_dir is not None else Path("runs") / recipe.name
    existing = list_checkpoints(run_dir) if run_dir.exists() else []
    if resume and not existing:
        raise RunError(f"--resume: no checkpoint in {run_dir / 'checkpoints'}; start the run without --resume")
    if not resume and existing:
        raise RunError(f"{run_dir} already holds a run; pass --resume to continue it or --out DIR to start a new one")
    device = resolve_device(recipe.train.device)
    world = init_distributed(device.type)
    if world.enabled and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    c = build(recipe, plugins, device, rank=world.rank)
    if resume:
        progress = _restore(c, existing[-1])
        planned = sum(c.g_strategy.round_steps(r, recipe.train.steps) for r in range(c.g_strategy.rounds))
        if progress.step > planned:
            raise RunError(f"checkpoint {existing[-1]} is at step {progress.step}, beyond the {planned} steps this recipe runs; "
                           "resume with train.steps of the original run or more")
    else:
        c.bind_optimizers()
        progress = RunProgress()
    if world.enabled:
        c.wrap_distributed()
    try:
        with _StopOnSignal() as stop:
            return _train(c, recipe, run_dir, progress, plugins, console, world, stop)
    finally:
        if world.enabled and dist.is_initialized():
            dist.destroy_process_group()


class RunInterrupted(MaskforgeError):
    """SIGINT or SIGTERM arrived; a checkpoint was written and the run stopped cleanly."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class _StopOnSignal:
    """Turns SIGINT / SIGTERM into a flag checked after every step (main thread only)."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def _train(c: Components, recipe: GANRecipe, run_dir: Path, progress: RunProgress, plugins: Plugins, console: Console,
           world, stop: _StopOnSignal) -> dict:
    main = world.is_main
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.json").write_text(json.dumps(to_json(recipe), indent=2))
    log = MetricsLog(run_dir / "metrics.jsonl", resume_step=progress.step) if main else _NullLog()
    hook = plugins.hook if main else _NullHook()  # observers (loggers, checkpointers) run on rank 0 only
    out, train = recipe.output, recipe.train
    rounds = c.g_strategy.rounds
    round_steps = [c.g_strategy.round_steps(r, train.steps) for r in range(rounds)]
    total = sum(round_steps)
    step_fn = STEPS[recipe.trainer]
    hook.maskforge_run_start(run_dir=run_dir, config=to_json(recipe))
    if main:
        console.print(f"[bold]maskforge run[/] {recipe.name}: {recipe.trainer} on {c.data.name} ({len(c.data)} images), "
                      f"device {c.device}, {total} G steps, {world.world_size} process(es) -> {run_dir}")
    started = time.perf_counter() - progress.seconds
    counters = {"d_step": progress.d_step, "skipped": progress.skipped}
    metrics: dict = dict(progress.metrics)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=console, transient=False, disable=not (console.is_terminal and main))
    with bar:
        task = bar.add_task(recipe.name, total=total, completed=progress.step, info="")
        while progress.round < rounds:
            while progress.round_step < round_steps[progress.round]:
                progress.round_step += 1
                progress.step += 1
                _schedule_learning_rates(c, progress.round_step, round_steps[progress.round])
                metrics = step_fn(c, progress.round_step, hook, counters)
                progress.d_step, progress.skipped, progress.metrics = counters["d_step"], counters.get("skipped", 0), dict(metrics)
                progress.seconds = time.perf_counter() - started
                for stats in counters.pop("updates", []):
                    strategy = c.g_strategy if stats.network == "G" else c.d_strategy
                    if recipe.train.verify_masks:
                        verify_identical_masks(strategy.mask, stats.network, progress.step)
                    log.write({"event": "mask_update", "network": stats.network, "step": progress.step,
                               "network_step": stats.step, "dropped": stats.total_dropped, "density": stats.density,
                               "exploration_rate": stats.exploration_rate,
                               "exploration_per_layer": strategy.engine.ever_active.density()})
                if c.averager is not None:
                    engine = getattr(c.g_strategy, "engine", None)
                    c.averager.update(c.G, engine.mask if engine is not None else None, progress.step)
                hook.maskforge_step_end(step=progress.step, metrics=metrics)
                last = progress.round == rounds - 1 and progress.round_step == round_steps[progress.round]
                if progress.step % out.log_every == 0 or last:
                    record = {"step": progress.step, "round": progress.round, **metrics, **_densities(c), **_learning_rates(c),
                              "seconds": round(time.perf_counter() - started, 2)}
                    log.write({"event": "step", **record})
                    info = "  ".join(f"{k} {v:.4f}" for k, v in record.items() if k not in ("step", "round", "seconds"))
                    bar.update(task, info=info)
                    if not console.is_terminal and main:
                        console.print(f"step {progress.step}/{total}  {info}", soft_wrap=True)
                if progress.step % out.sample_every == 0 and main:
                    save_samples(_samples(c, out.n_samples), run_dir / "samples" / f"step_{progress.step:08d}.png",
                                 nrow=_grid_columns(c))
                if progress.step % out.checkpoint_every == 0 and not last and main:
                    path = write_checkpoint(_payload(c, progress, plugins), run_dir, progress.step, out.keep_checkpoints)
                    hook.maskforge_checkpoint(path=path, step=progress.step)
                bar.update(task, completed=progress.step)
                if stop.signum is not None:
                    name = signal.Signals(stop.signum).name
                    if main:
                        path = write_checkpoint(_payload(c, progress, plugins), run_dir, progress.step, out.keep_checkpoints)
                        hook.maskforge_checkpoint(path=path, step=progress.step)
                        log.close()
                    raise RunInterrupted(f"{name} at step {progress.step}: checkpoint written to {run_dir / 'checkpoints'}; "
                                         "continue with --resume", stop.signum)
            if progress.round == rounds - 1:
                break
            c.g_strategy.end_round(progress.round)
            if c.D is not None:
                c.d_strategy.end_round(progress.round)
            c.bind_optimizers()  # a fresh optimizer per round (IMP rewinds)
            progress.round += 1
            progress.round_step = 0
    summary = {"recipe": recipe.name, "steps": progress.step, **metrics, **_densities(c),
               "skipped_steps": counters.get("skipped", 0),
               "seconds": round(time.perf_counter() - started, 2), "run_dir": str(run_dir)}
    if not main:
        return summary
    save_samples(_samples(c, out.n_samples), run_dir / "samples" / "final.png", nrow=_grid_columns(c))
    path = write_checkpoint(_payload(c, progress, plugins), run_dir, progress.step, out.keep_checkpoints)
    hook.maskforge_checkpoint(path=path, step=progress.step)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    log.close()
    from maskforge.runs.plots import plot_run  # matplotlib is imported only when a run ends

    masks = {"G": c.g_strategy.mask}
    if c.D is not None:
        masks["D"] = c.d_strategy.mask
    plot_run(run_dir, {k: m.to("cpu") for k, m in masks.items()})
    hook.maskforge_run_end(run_dir=run_dir, metrics=summary)
    console.print(f"done: {progress.step} steps in {summary['seconds']} s; G density {summary['g_density']:.4f}, "
                  f"exploration {summary['g_exploration']:.4f}; wrote {run_dir}")
    return summary
