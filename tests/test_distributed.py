"""Two processes with the gloo backend: masks stay identical on every rank and equal what one
process computes from the same global batch; `maskforge run` works under torchrun."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from maskforge import Mask
from maskforge.runs.distributed import mask_digest
from tests.ddp_worker import train

HERE = Path(__file__).parent
RECIPE = HERE.parent / "recipes" / "stu_digits.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args, timeout=300):
    env = {**os.environ, "MASKFORGE_QUIET": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


@pytest.mark.parametrize("strategy", ["stu_gan", "set"])
def test_masks_are_identical_across_ranks_and_equal_the_single_process_result(strategy, tmp_path):
    proc = torchrun(str(HERE / "ddp_worker.py"), str(tmp_path), strategy)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["digest"] == ranks[1]["digest"]
    single = train(0, 1, strategy)
    assert Mask.from_state_dict(ranks[0]["mask"]) == single
    assert mask_digest(single) == ranks[0]["digest"]


@pytest.mark.slow
def test_maskforge_run_under_torchrun_verifies_masks_and_only_rank_0_writes(tmp_path):
    out = tmp_path / "ddp"
    # accumulate=2: DDP skips the all-reduce of the first micro-batch (no_sync); the masks still agree
    sets = ["train.steps=6", "train.batch_size=8", "train.accumulate=2", "train.device=cpu", "train.verify_masks=true", "output.log_every=1",
            "output.checkpoint_every=3", "output.sample_every=3", "g_sparsity.options.update_every=2",
            "generator.options.width=0.25", "discriminator.options.width=0.25"]
    args = ["-m", "maskforge.cli", "run", str(RECIPE), "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    proc = torchrun(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "step"] == [1, 2, 3, 4, 5, 6]  # one writer
    assert "2 process(es)" in proc.stdout
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
