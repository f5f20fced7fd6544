"""`maskforge run`: every recipe runs a few steps on CPU with shrinking overrides; bad input is one line."""

import json
from pathlib import Path

import pytest
import torch

from maskforge.storage.checkpoint import load
from maskforge.cli import main

RECIPES = Path(__file__).parents[1] / "recipes"

TINY_OUTPUT = ["output.log_every=1", "output.sample_every=2", "output.checkpoint_every=2", "output.n_samples=4"]
TINY_TRAIN = ["train.steps=3", "train.batch_size=4", "train.d_batch_size=4", "train.d_steps=2", "train.device=cpu"]


def shrink(*, resolution, channels, width=0.0625, extra=()):
    sets = ["data.name=digits", f"data.resolution={resolution}", f"data.channels={channels}",
            f"generator.options.width={width}", *TINY_TRAIN, *TINY_OUTPUT, *extra]
    return sets


SHRINK = {
    "stu_digits.py": [*TINY_TRAIN, *TINY_OUTPUT, "generator.options.width=0.25", "discriminator.options.width=0.25",
                      "g_sparsity.options.update_every=1"],
    "stu_biggan.py": shrink(resolution=16, channels=3, extra=["discriminator.options.width=0.0625", "g_sparsity.options.update_every=1"]),
    "stu_biggan_imagenet.py": shrink(resolution=64, channels=3, width=1 / 24,
                                     extra=["discriminator.options.width=0.0417", "g_sparsity.options.update_every=1",
                                            "train.accumulate=2"]),
    "static_biggan.py": shrink(resolution=16, channels=3, extra=["discriminator.options.width=0.0625"]),
    "stu_sngan.py": shrink(resolution=16, channels=3, extra=["discriminator.options.width=0.0625", "g_sparsity.options.update_every=2"]),
    "imp_sngan.py": shrink(resolution=16, channels=3, extra=["discriminator.options.width=0.0625",
                                                             "g_sparsity.options.pruning_rounds=2", "d_sparsity.options.pruning_rounds=2"]),
    "ep_gfmn.py": shrink(resolution=16, channels=3, width=0.03125, extra=["loss.weights=random", "loss.n_relu=4"]),
    "random_gfmn.py": shrink(resolution=16, channels=3, width=0.03125, extra=["loss.weights=random", "loss.n_relu=4"]),
}


def run(recipe, out, sets, capsys=None):
    argv = ["run", str(RECIPES / recipe), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    return main(argv)


def test_every_recipe_has_a_shrunk_test():
    assert {p.name for p in RECIPES.glob("*.py")} == set(SHRINK) | {"pf_biggan.py"}


@pytest.mark.parametrize("recipe", sorted(SHRINK))
def test_recipe_runs_a_few_steps_on_cpu_and_writes_its_outputs(recipe, tmp_path):
    out = tmp_path / "run"
    assert run(recipe, out, SHRINK[recipe]) == 0
    resolved = json.loads((out / "recipe.json").read_text())
    assert resolved["train"]["steps"] == 3
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["event"] == "step"]
    rounds = 3 if recipe == "imp_sngan.py" else 1
    assert steps[-1]["step"] == 3 * rounds
    assert (out / "samples" / "final.png").is_file() and (out / "samples" / "step_00000002.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 * rounds
    checkpoint = load(max((out / "checkpoints").glob("*.pt")))
    assert checkpoint["progress"]["step"] == 3 * rounds and "G" in checkpoint and "g_strategy" in checkpoint


def test_imp_recipe_prunes_g_each_round(tmp_path):
    out = tmp_path / "imp"
    assert run("imp_sngan.py", out, SHRINK["imp_sngan.py"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["g_density"] == pytest.approx(0.8**2, abs=0.01)
    assert summary["d_density"] == 1.0


def test_pf_recipe_prunes_a_trained_checkpoint_by_global_magnitude(tmp_path):
    dense = tmp_path / "dense"
    base = shrink(resolution=16, channels=3, extra=["discriminator.options.width=0.0625"])
    assert run("static_biggan.py", dense, base + ["g_sparsity.options.density=1.0", "d_sparsity.options.density=1.0"]) == 0
    ckpt = max((dense / "checkpoints").glob("*.pt"))
    out = tmp_path / "pf"
    assert run("pf_biggan.py", out, base + [f"pretrained_g={ckpt}", f"pretrained_d={ckpt}"]) == 0
    assert json.loads((out / "summary.json").read_text())["g_density"] == pytest.approx(0.1, abs=0.01)
    from maskforge.metrics.inspection import inspect_checkpoint

    report = inspect_checkpoint(out)  # a dense run plus the fine-tuning (here with D dense)
    assert report["training_flops_includes_dense_pretraining"] and 1.0 < report["training_flops_ratio"] < 2.0


def test_resume_continues_from_the_newest_checkpoint(tmp_path):
    out = tmp_path / "r"
    sets = SHRINK["stu_digits.py"]
    assert run("stu_digits.py", out, sets) == 0
    assert run("stu_digits.py", out, [*sets, "train.steps=5"]) == 2  # exists: refuse without --resume
    argv = ["run", str(RECIPES / "stu_digits.py"), "--out", str(out), "--resume"]
    for s in [*sets, "train.steps=5"]:
        argv += ["--set", s]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 5


@pytest.mark.parametrize("sets, message", [
    (["train.stesp=3"], "did you mean 'steps'"),
    (["train.steps=three"], "expected an integer"),
    (["g_sparsity.options.density=1.5"], "density must be in (0, 1]"),
    (["d_sparsity.options.density=0"], "density must be in (0, 1]"),
    (["g_sparsity.options.drop_fraction=1.0"], "drop_fraction must be in [0, 1)"),
    (["g_sparsity.strategy=stu-gan"], "did you mean 'stu_gan'"),
    (["train.device=tpu"], "unknown device 'tpu'"),
    (["trainer=foo"], "--set trainer=foo: 'trainer' must be in"),  # the validator's message, no attrs internals
    (["data.name=cifar10", "data.root=/nonexistent/cifar"], "CIFAR-10 not found in /nonexistent/cifar"),
])
def test_bad_overrides_give_one_line_and_status_2(sets, message, tmp_path, capsys):
    out = tmp_path / "bad"
    assert run("stu_digits.py", out, sets) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists(), "a rejected run must not create its run directory"


def test_stu_biggan_without_cifar_says_where_it_looked_and_how_to_point_at_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(RECIPES / "stu_biggan.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "CIFAR-10 not found in data/cifar10/cifar-10-batches-py" in err and "--set data.root=DIR" in err


def test_stu_biggan_imagenet_without_imagenet_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(RECIPES / "stu_biggan_imagenet.py")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "image folder data/imagenet/train does not exist" in err and "--set data.root=DIR" in err


def test_missing_vgg_weights_name_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MASKFORGE_WEIGHTS_DIR", raising=False)
    sets = [s for s in SHRINK["ep_gfmn.py"] if not s.startswith("loss.weights")]
    assert run("ep_gfmn.py", tmp_path / "ep", sets) == 2
    assert "vgg19-dcbb9e9d.pth not found" in capsys.readouterr().err


def test_edge_popup_run_leaves_generator_weights_untouched(tmp_path):
    out = tmp_path / "ep"
    assert run("ep_gfmn.py", out, SHRINK["ep_gfmn.py"]) == 0
    first = load(out / "checkpoints" / "checkpoint_00000002.pt")["G"]
    last = load(max((out / "checkpoints").glob("*.pt")))["G"]
    weights = [k for k in first if k.endswith("original")]
    scores = [k for k in first if k.endswith("scores")]
    assert weights and scores
    assert all(torch.equal(first[k], last[k]) for k in weights)
    assert any(not torch.equal(first[k], last[k]) for k in scores)


class _NaNAfter:
    """A hinge loss whose D loss becomes NaN from its third call on."""

    def __init__(self):
        from maskforge.losses import HingeLoss

        self.inner, self.calls = HingeLoss(), 0

    def discriminator(self, real, fake):
        self.calls += 1
        loss = self.inner.discriminator(real, fake)
        return loss * float("nan") if self.calls >= 3 else loss

    def generator(self, fake):
        return self.inner.generator(fake)


def _nan_plugins():
    from maskforge.plugin_system.hookspecs import hookimpl
    from maskforge.plugin_system.manager import load_plugins

    class NaNLoss:
        @hookimpl
        def maskforge_register(self, registry):
            registry.register("loss", "nan_after", _NaNAfter)

    return load_plugins(extra=[("nan_loss", NaNLoss())])


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_non_finite_losses_stop_naming_step_and_network_or_are_skipped(policy, tmp_path):
    from maskforge.runs.overrides import apply_overrides
    from maskforge.runs.recipe_loader import load_recipe
    from maskforge.runs import run_recipe
    from maskforge.runs.loops import NonFiniteLossError

    sets = [*SHRINK["stu_digits.py"], "loss.name=nan_after", f"train.on_nonfinite={policy}", "train.d_steps=1",
            "output.checkpoint_every=1"]
    recipe = apply_overrides(load_recipe(RECIPES / "stu_digits.py"), sets)
    out = tmp_path / policy
    if policy == "stop":
        with pytest.raises(NonFiniteLossError, match=r"the D loss is nan at step 3 \(network D\).*keeping the checkpoints written so far"):
            run_recipe(recipe, out_dir=out, plugins=_nan_plugins())
        assert sorted(p.name for p in (out / "checkpoints").glob("*.pt")) == ["checkpoint_00000001.pt", "checkpoint_00000002.pt"]
    else:
        summary = run_recipe(recipe, out_dir=out, plugins=_nan_plugins())
        assert summary["steps"] == 3 and summary["skipped_steps"] == 1


def test_a_cosine_learning_rate_is_annealed_over_each_round_and_logged(tmp_path):
    import math

    from maskforge.runs.recipe import OptimizerSpec

    spec = OptimizerSpec(lr=1e-3, lr_schedule="cosine", lr_min=1e-4)
    assert spec.lr_at(1, 10) == pytest.approx(1e-3)
    assert spec.lr_at(6, 10) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert spec.lr_at(10, 10) > spec.lr_at(11, 10) == pytest.approx(1e-4) == spec.lr_at(500, 10)  # held, not periodic
    assert OptimizerSpec(lr=1e-3).lr_at(7, 10) == 1e-3
    out = tmp_path / "run"
    assert run("stu_digits.py", out, [*SHRINK["stu_digits.py"], "g_optimizer.lr_schedule=cosine", "g_optimizer.lr=0.002"]) == 0
    steps = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["event"] == "step"]
    assert [r["lr_g"] for r in steps] == pytest.approx([0.002 * 0.5 * (1 + math.cos(math.pi * (t - 1) / 3)) for t in (1, 2, 3)])
    assert all("lr_d" not in r for r in steps)  # D's rate is constant: not logged


def test_adam_eps_reaches_the_optimizer():
    from maskforge.runs.recipe import OptimizerSpec
    from maskforge.runs.components import make_optimizer

    opt = make_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimizerSpec(eps=1e-6))
    assert opt.param_groups[0]["eps"] == 1e-6
    assert make_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimizerSpec()).param_groups[0]["eps"] == 1e-8


@pytest.mark.parametrize("bad, message", [("g_optimizer.lr_schedule=step", "lr_schedule"), ("g_optimizer.lr_min=-1", "lr_min"),
                                          ("d_optimizer.eps=0", "eps must be > 0")])
def test_a_bad_learning_rate_schedule_is_one_line(bad, message, tmp_path, capsys):
    assert run("stu_digits.py", tmp_path / "run", [*SHRINK["stu_digits.py"], bad]) == 2
    assert message in capsys.readouterr().err


def test_edge_popup_fine_tunes_after_its_search_and_resumes_in_either_phase(tmp_path):
    import shutil

    sets = [*SHRINK["ep_gfmn.py"], "g_sparsity.options.finetune_steps=2", "output.checkpoint_every=1",
            "output.keep_checkpoints=10"]
    full = tmp_path / "full"
    assert run("ep_gfmn.py", full, sets) == 0
    summary = json.loads((full / "summary.json").read_text())
    assert summary["steps"] == 5  # 3 search steps, then 2 fine-tuning steps
    final = load(max((full / "checkpoints").glob("*.pt")))
    assert final["g_strategy"]["phase"] == "finetune"
    for resume_at in (2, 4):  # a checkpoint of the search, and one of the fine-tuning
        part = tmp_path / f"from{resume_at}"
        shutil.copytree(full, part)
        for ckpt in (part / "checkpoints").glob("*.pt"):
            if int(ckpt.stem.split("_")[-1]) > resume_at:
                ckpt.unlink()
        argv = ["run", str(RECIPES / "ep_gfmn.py"), "--out", str(part), "--resume"]
        for s in sets:
            argv += ["--set", s]
        assert main(argv) == 0
        again = load(max((part / "checkpoints").glob("*.pt")))
        assert again["progress"]["step"] == 5
        for name, value in final["G"].items():
            assert torch.equal(value, again["G"][name]), (resume_at, name)


def test_boolean_words_in_strategy_options_are_booleans(tmp_path):
    from maskforge.runs.overrides import apply_overrides
    from maskforge.runs.recipe_loader import load_recipe

    recipe = load_recipe(RECIPES / "stu_digits.py")
    resolved = apply_overrides(recipe, ["g_sparsity.options.explore=off", "g_sparsity.options.pooled=yes"])
    assert resolved.g_sparsity.options["explore"] is False and resolved.g_sparsity.options["pooled"] is True
