"""A catalogue of bad inputs: each gives one line on stderr saying what was wrong and how to fix
it, exit status 2, no traceback (``--debug`` shows it), and leaves run directories untouched."""

import hashlib
import importlib
import shutil
import sys
from pathlib import Path

import pytest
import torch

from maskforge.cli import main

ROOT = Path(__file__).parents[1]
RECIPE = ROOT / "recipes" / "stu_digits.py"
FIXTURES = Path(__file__).parent / "fixtures"
TINY = ["train.steps=2", "train.batch_size=4", "train.device=cpu", "output.checkpoint_every=1", "output.sample_every=100",
        "output.n_samples=4", "generator.options.width=0.25", "discriminator.options.width=0.25"]


def sets(*extra):
    out = []
    for s in (*TINY, *extra):
        out += ["--set", s]
    return out


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "run"
    assert main(["run", str(RECIPE), "--out", str(out), *sets()]) == 0
    return out


def _copy(good_run, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(good_run, target)
    return target


def _recipe_file(tmp_path, text):
    path = tmp_path / "recipe.py"
    path.write_text(text)
    return str(path)


def _truncate(run):
    ckpt = max((run / "checkpoints").glob("*.pt"))
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    return run


def _corrupt(run):
    ckpt = max((run / "checkpoints").glob("*.pt"))
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    return run


def _foreign_state_dict(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"other.weight": torch.zeros(2)}, path)
    return path


CASES = {
    "missing recipe file": (lambda t, g: ["run", str(t / "nope.py")], "does not exist"),
    "syntax error in a recipe": (lambda t, g: ["run", _recipe_file(t, "recipe = (\n")], "syntax error at line"),
    "no recipe defined": (lambda t, g: ["run", _recipe_file(t, "x = 1\n")], "defines no module-level `recipe`"),
    "negative learning rate": (lambda t, g: ["run", str(RECIPE), *sets("g_optimizer.lr=-1")], "lr must be > 0, got -1"),
    "three betas": (lambda t, g: ["run", str(RECIPE), *sets("d_optimizer.betas=(0.0, 0.9, 0.99)")], "betas must be two numbers in [0, 1)"),
    "pretrained weights of another model": (lambda t, g: ["run", str(RECIPE), *sets(f"pretrained_g={_foreign_state_dict(t)}")],
                                            "do not fit the recipe's model: missing"),
    "recipe of the wrong type": (lambda t, g: ["run", _recipe_file(t, "recipe = 5\n")], "sets `recipe` to a int, not a GANRecipe"),
    "resume with another sparsity": (lambda t, g: ["run", str(RECIPE), "--out", str(_copy(g, t)), "--resume",
                                                   *sets("g_sparsity.options.density=0.3")], "different g_sparsity"),
    "resume with fewer steps than done": (lambda t, g: ["run", str(RECIPE), "--out", str(_copy(g, t)), "--resume",
                                                        *sets("train.steps=1")], "beyond the 1 steps this recipe runs"),
    "recipe raising on import": (lambda t, g: ["run", _recipe_file(t, "raise ValueError('boom')\n")], "failed to import: ValueError: boom"),
    "unknown strategy": (lambda t, g: ["run", str(RECIPE), *sets("g_sparsity.strategy=stu-gan")], "did you mean 'stu_gan'"),
    "unknown allocator": (lambda t, g: ["run", str(RECIPE), *sets("g_sparsity.options.allocator=erk2")], "unknown allocator 'erk2'; did you mean 'erk'"),
    "unknown grower": (lambda t, g: ["run", str(RECIPE), *sets("g_sparsity.options.grower=gradeint")], "did you mean 'gradient'"),
    "unknown dataset": (lambda t, g: ["run", str(RECIPE), *sets("data.name=mnist")], "unknown dataset 'mnist'"),
    "unknown model": (lambda t, g: ["run", str(RECIPE), *sets("generator.name=stylegan")], "unknown model 'stylegan'"),
    "wrong --set path": (lambda t, g: ["run", str(RECIPE), *sets("train.stpes=3")], "did you mean 'steps'"),
    "wrong --set type": (lambda t, g: ["run", str(RECIPE), *sets("train.batch_size=many")], "expected an integer"),
    "--set without =": (lambda t, g: ["run", str(RECIPE), "--set", "train.steps"], "expected PATH=VALUE"),
    "density above 1": (lambda t, g: ["run", str(RECIPE), *sets("g_sparsity.options.density=1.5")], "density must be in (0, 1]"),
    "density 0": (lambda t, g: ["run", str(RECIPE), *sets("d_sparsity.options.density=0")], "density must be in (0, 1]"),
    "drop fraction 1": (lambda t, g: ["run", str(RECIPE), *sets("g_sparsity.options.drop_fraction=1.0")], "drop_fraction must be in [0, 1)"),
    "unknown device": (lambda t, g: ["run", str(RECIPE), *sets(), "--device", "quantum"], "unknown device 'quantum'"),
    "missing data root": (lambda t, g: ["run", str(RECIPE), *sets("data.name=cifar10", f"data.root={t / 'none'}")], "CIFAR-10 not found in"),
    "missing weights file": (lambda t, g: ["run", str(ROOT / "recipes" / "ep_gfmn.py"), "--set", "data.name=digits", "--set", "data.resolution=16",
                                           "--set", "data.channels=3", "--set", "generator.options.width=0.03125",
                                           "--set", f"loss.weights={t / 'vgg.pth'}", "--device", "cpu"],
                             "vgg19-dcbb9e9d.pth not found"),
    "resume without a checkpoint": (lambda t, g: ["run", str(RECIPE), "--out", str(t / "empty"), "--resume", *sets()], "no checkpoint in"),
    "existing run without --resume": (lambda t, g: ["run", str(RECIPE), "--out", str(_copy(g, t)), *sets()], "already holds a run"),
    "checkpoint of a different model": (lambda t, g: ["run", str(RECIPE), "--out", str(_copy(g, t)), "--resume",
                                                      *sets("generator.options.width=0.5")], "different generator"),
    "truncated checkpoint": (lambda t, g: ["run", str(RECIPE), "--out", str(_truncate(_copy(g, t))), "--resume", *sets()], "truncated, corrupted"),
    "corrupted checkpoint": (lambda t, g: ["run", str(RECIPE), "--out", str(_corrupt(_copy(g, t))), "--resume", *sets()], "corrupted"),
    "inspect a truncated checkpoint": (lambda t, g: ["inspect", str(_truncate(_copy(g, t)))], "cannot be read"),
    "eval of a missing run": (lambda t, g: ["eval", str(t / "nowhere")], "does not exist"),
}


def test_the_catalogue_has_at_least_twenty_bad_inputs():
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gives_one_line_status_2_and_no_traceback(name, good_run, tmp_path, capsys):
    make_argv, expected = CASES[name]
    before = snapshot(good_run)
    argv = make_argv(tmp_path, good_run)
    copies = {p: snapshot(p) for p in tmp_path.iterdir() if p.is_dir()}
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("maskforge: error: ") and expected in err, err
    assert "Traceback" not in err
    assert snapshot(good_run) == before, "the original run directory must not change"
    for path, snap in copies.items():
        assert snapshot(path) == snap, f"{path} was modified by a failed command"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="density must be in"):
        main(["--debug", "run", str(RECIPE), *sets("g_sparsity.options.density=2")])


@pytest.fixture
def plugin_dir(monkeypatch):
    def add(name):
        monkeypatch.syspath_prepend(str(FIXTURES / name))
        importlib.invalidate_caches()

    yield add
    for mod in ["broken_plugin", "bad_grower_plugin"]:
        sys.modules.pop(mod, None)


def test_a_plugin_that_raises_on_import_is_one_line_in_strict_mode(plugin_dir, tmp_path, capsys):
    plugin_dir("plugin_broken")
    assert main(["--strict-plugins", "run", str(RECIPE), "--out", str(tmp_path / "x"), *sets()]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "plugin 'broken'" in err and "--block-plugin broken" in err
    assert not (tmp_path / "x").exists()


def test_a_plugin_that_breaks_a_mask_invariant_is_named_in_one_line(plugin_dir, tmp_path, capsys):
    plugin_dir("plugin_breaks_invariant")
    out = tmp_path / "bad"
    assert main(["run", str(RECIPE), "--out", str(out), *sets("g_sparsity.options.grower=regrow_active",
                                                                 "g_sparsity.options.update_every=1")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "grower 'regrow_active' from plugin 'bad_grower' broke a mask invariant" in err
    assert not list(out.glob("checkpoints/*.pt")), "no checkpoint of a broken state may be written"
