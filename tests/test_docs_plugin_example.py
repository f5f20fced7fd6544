"""The Grower in docs/writing-a-plugin.md works as documented, from outside the package."""

import importlib
import re
import sys
from pathlib import Path

import torch

from maskforge import SparseEngine, prune_and_grow
from maskforge.plugin_system.manager import load_plugins
from maskforge.testing import check_grower, random_mask

DOC = Path(__file__).parents[1] / "docs" / "writing-a-plugin.md"


def _example_source() -> str:
    blocks = re.findall(r"```python\n(# file: noisy_grower.py\n.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/writing-a-plugin.md must contain the noisy_grower.py example once"
    return blocks[0]


def test_the_documented_grower_is_at_most_30_lines():
    assert len(_example_source().strip().splitlines()) <= 30


def test_the_documented_grower_installs_by_entry_point_conforms_and_runs(tmp_path, monkeypatch):
    (tmp_path / "noisy_grower.py").write_text(_example_source())
    dist = tmp_path / "noisy_grower-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: noisy-grower\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[maskforge]\nnoisy_gradient = noisy_grower\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        plugins = load_plugins(strict=True)
        assert plugins.infos["noisy_gradient"].version == "1.0"
        grower = plugins.create("grower", "noisy_gradient", noise=1e-5)
        check_grower(grower, max_examples=25)
        model = torch.nn.Linear(10, 10, bias=False)
        opt = torch.optim.Adam(model.parameters())
        engine = SparseEngine(model, random_mask({"weight": (10, 10)}, 0.2, 0), opt)
        model(torch.randn(4, 10)).sum().backward()
        before = engine.mask
        stats = prune_and_grow(engine, plugins.create("pruner", "magnitude"), grower, 0.5,
                               generator=torch.Generator().manual_seed(0))
        assert stats.total_grown == stats.total_dropped == round(0.5 * before.total_nnz)
        assert engine.mask != before and engine.mask.total_nnz == before.total_nnz
    finally:
        sys.modules.pop("noisy_grower", None)
