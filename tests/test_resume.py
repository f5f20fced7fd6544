"""Exact resume: a run killed with SIGKILL (or stopped by SIGTERM) and resumed ends bit-identical."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from maskforge.storage.checkpoint import load

RECIPE = Path(__file__).parents[1] / "recipes" / "stu_digits.py"
SETS = ["train.steps=12", "train.batch_size=16", "train.device=cpu", "output.log_every=1", "output.checkpoint_every=3",
        "output.sample_every=100", "output.n_samples=4", "output.keep_checkpoints=10", "g_sparsity.options.update_every=2",
        "d_sparsity.strategy=set", "d_sparsity.options.update_every=3", "averager.start_step=2",
        "generator.options.width=0.25", "discriminator.options.width=0.25", "g_optimizer.lr_schedule=cosine"]


def command(out, *extra):
    argv = [sys.executable, "-m", "maskforge.cli", "run", str(RECIPE), "--out", str(out), *extra]
    for s in SETS:
        argv += ["--set", s]
    return argv


def start(out, *extra):
    env = {**os.environ, "MASKFORGE_QUIET": "1"}
    return subprocess.Popen(command(out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_step(proc, step, timeout=240):
    deadline = time.time() + timeout
    for line in proc.stdout:
        if line.startswith(f"step {step}/"):
            return
        if time.time() > deadline:
            break
    raise AssertionError(f"the run never reported step {step}: {proc.stderr.read()}")


def final_state(out):
    return load(max((out / "checkpoints").glob("*.pt")))


def assert_bit_identical(a, b):
    for key in ("G", "D"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    for key in ("g_strategy", "d_strategy"):
        assert a[key]["mask"]["names"] == b[key]["mask"]["names"]
        assert all(torch.equal(x, y) for x, y in zip(a[key]["mask"]["packed"], b[key]["mask"]["packed"])), f"{key} mask differs"
    for name, value in a["averager"]["shadow"].items():
        assert torch.equal(value, b["averager"]["shadow"][name]), f"averager {name} differs"
    for key in ("opt_g", "opt_d"):
        assert [g["lr"] for g in a[key]["param_groups"]] == [g["lr"] for g in b[key]["param_groups"]]
        for pid, state in a[key]["state"].items():
            for k, v in state.items():
                assert torch.equal(v, b[key]["state"][pid][k]), f"{key} state {k} differs"
    timeless = [{k: v for k, v in state["progress"].items() if k != "seconds"} for state in (a, b)]
    assert timeless[0] == timeless[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = subprocess.run(command(out), capture_output=True, text=True, env={**os.environ, "MASKFORGE_QUIET": "1"}, check=False)
    assert proc.returncode == 0, proc.stderr
    return final_state(out)


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_is_bit_identical(reference, tmp_path):
    out = tmp_path / "killed"
    kill_at = random.Random(7).randint(4, 10)
    proc = start(out)
    wait_for_step(proc, kill_at)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((out / "checkpoints").glob("checkpoint_*.pt")), "a checkpoint must exist before the kill"
    resumed = subprocess.run(command(out, "--resume"), capture_output=True, text=True, env={**os.environ, "MASKFORGE_QUIET": "1"}, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert_bit_identical(reference, final_state(out))
    logged = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["event"] == "step"]
    assert logged == list(range(1, 13)), "steps the killed process logged after its checkpoint are logged once"


@pytest.mark.slow
def test_sigterm_writes_a_checkpoint_exits_cleanly_and_resumes_bit_identically(reference, tmp_path):
    out = tmp_path / "term"
    proc = start(out)
    wait_for_step(proc, 5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped: SIGTERM at step" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    step = int(err.split("at step ")[1].split(":")[0])
    assert (out / "checkpoints" / f"checkpoint_{step:08d}.pt").is_file()
    resumed = subprocess.run(command(out, "--resume"), capture_output=True, text=True, env={**os.environ, "MASKFORGE_QUIET": "1"}, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert_bit_identical(reference, final_state(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 12 and {"d_loss", "g_loss"} <= summary.keys()
    again = subprocess.run(command(out, "--resume"), capture_output=True, text=True, env={**os.environ, "MASKFORGE_QUIET": "1"}, check=False)
    assert again.returncode == 0, again.stderr  # resuming a finished run rewrites the same summary
    rewritten = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in rewritten.items() if k != "seconds"} == {k: v for k, v in summary.items() if k != "seconds"}
    assert rewritten["seconds"] >= summary["seconds"] - 0.01
