"""The command line: `maskforge plugins`, `maskforge quickstart`, one-line errors."""

import json
import subprocess
import sys

import pytest

from maskforge.cli import main
from maskforge.plugin_system.hookspecs import hookimpl
from maskforge.plugin_system.manager import load_plugins
from maskforge.runs.quickstart import QuickstartConfig, run_quickstart


def test_plugins_lists_builtin_plugins_versions_hooks_and_names(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for text in ["core", "console", "maskforge_register", "maskforge_mask_update", "gradient", "magnitude", "erk", "sema", "cosine", "0.1.0"]:
        assert text in out, text


def test_blocked_plugin_shows_as_blocked(capsys):
    assert main(["--block-plugin", "console", "plugins"]) == 0
    assert "blocked" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["quickstart", "--density", "1.5"], "density must be in (0, 1]"),
    (["quickstart", "--steps", "0"], "must be >= 1"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_give_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_console_script_is_installed_and_runs():
    result = subprocess.run([sys.executable, "-m", "maskforge.cli", "plugins"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "core" in result.stdout


@pytest.mark.slow
def test_quickstart_learns_keeps_density_explores_and_calls_every_lifecycle_hook(tmp_path):
    events = []

    class Recorder:
        @hookimpl
        def maskforge_run_start(self, run_dir, config):
            events.append(("start", config["density"]))

        @hookimpl
        def maskforge_mask_update(self, stats):
            events.append(("update", stats.density))

        @hookimpl
        def maskforge_checkpoint(self, path, step):
            events.append(("checkpoint", path.name, step))

        @hookimpl
        def maskforge_run_end(self, run_dir, metrics):
            events.append(("end", metrics["test_accuracy"]))

    plugins = load_plugins(extra=[("recorder", Recorder())])
    summary = run_quickstart(tmp_path, QuickstartConfig(steps=200, update_every=40), plugins=plugins)
    assert summary["test_accuracy"] > 0.8
    assert summary["density"] == pytest.approx(0.1, abs=1e-3)
    assert summary["exploration_rate"] > summary["density"]
    assert events[0] == ("start", 0.1)
    assert sum(1 for e in events if e[0] == "update") == 4
    assert ("checkpoint", "checkpoint.pt", 200) in events and events[-1][0] == "end"
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any(r["event"] == "mask_update" for r in lines) and lines[-1]["step"] == 200
    import torch

    from maskforge import Mask
    from maskforge.runs.quickstart import digits_classifier
    from maskforge.storage.checkpoint import load

    state = load(tmp_path / "checkpoint.pt")
    dense = digits_classifier()
    dense.load_state_dict(state["model"])  # a sparse run's weights load into the plain model
    mask = Mask.from_state_dict(state["mask"])
    assert mask.total_density == pytest.approx(0.1, abs=1e-3)
    for name, m in mask.items():
        assert torch.all(dict(dense.named_parameters())[name][~m] == 0)
