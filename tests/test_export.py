"""`maskforge export`: a lossless compact generator that loads back bit-identically."""

from pathlib import Path

import pytest
import torch

from maskforge.cli import main
from maskforge.runs.export import load_generator
from maskforge.runs.restore import load_run

RECIPES = Path(__file__).parents[1] / "recipes"


def _run(recipe, out, sets):
    argv = ["run", str(RECIPES / recipe), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return out


def test_export_round_trips_the_averaged_generator_bit_for_bit_and_inspect_reads_it(tmp_path, capsys):
    run = _run("stu_digits.py", tmp_path / "run", ["train.steps=3", "train.batch_size=8", "train.device=cpu",
                                                  "averager.start_step=0", "g_sparsity.options.update_every=1"])
    assert main(["export", str(run), str(tmp_path / "g.mfz")]) == 0
    assert "x the dense" in capsys.readouterr().out
    original = load_run(run).G.state_dict()
    G, mask, recipe, meta = load_generator(tmp_path / "g.mfz")
    assert meta["averaged"] and recipe.name == "stu_digits"
    loaded = G.state_dict()
    assert loaded.keys() == original.keys()
    for name, value in original.items():
        assert value.dtype == loaded[name].dtype and torch.equal(value.view(torch.uint8) if value.is_floating_point() else value,
                                                                 loaded[name].view(torch.uint8) if value.is_floating_point() else loaded[name]), name
    assert mask.total_density == pytest.approx(0.1, abs=1e-3)
    assert main(["inspect", str(tmp_path / "g.mfz")]) == 0
    assert "testing FLOPs per image" in capsys.readouterr().out


def test_edge_popup_exports_bake_the_mask_into_plain_weights(tmp_path):
    run = _run("ep_gfmn.py", tmp_path / "ep", ["data.name=digits", "data.resolution=16", "data.channels=3", "train.steps=2",
                                              "train.batch_size=4", "train.device=cpu", "generator.options.width=0.03125",
                                              "loss.weights=random", "loss.n_relu=2"])
    assert main(["export", str(run), str(tmp_path / "ep.mfz")]) == 0
    G, mask, _, _ = load_generator(tmp_path / "ep.mfz")
    params = dict(G.named_parameters())
    for name, bits in mask.items():
        assert torch.all(params[name][~bits] == 0)
    reference = load_run(run)
    z = torch.randn(2, G.dim_z)
    assert torch.allclose(G(z), reference.G(z), atol=1e-6)


def test_exporting_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none"), str(tmp_path / "g.mfz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_conditional_run_is_rebuilt_and_exported_with_its_class_count_when_its_data_is_gone(tmp_path):
    from PIL import Image

    data = tmp_path / "images"
    for label in ("cats", "dogs"):  # 2 classes, not the 10 of CIFAR-10
        (data / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (16, 16), (40 * i, 100 if label == "cats" else 200, 30)).save(data / label / f"{i}.png")
    run = _run("stu_biggan.py", tmp_path / "run", ["data.name=folder", f"data.root={data}", "data.resolution=16",
                                                  "generator.options.width=0.0625", "discriminator.options.width=0.0625",
                                                  "train.steps=2", "train.batch_size=4", "train.d_steps=1", "train.device=cpu",
                                                  "output.sample_every=100", "output.n_samples=4"])
    data.rename(tmp_path / "moved")  # the dataset is no longer on this machine
    loaded = load_run(run)
    assert loaded.data.n_classes == 2
    assert main(["export", str(run), str(tmp_path / "g.mfz")]) == 0
    G, _, _, _ = load_generator(tmp_path / "g.mfz")
    for name, value in loaded.G.state_dict().items():
        assert torch.equal(value, G.state_dict()[name]), name
