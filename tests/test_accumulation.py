"""Gradient accumulation (``train.accumulate``): one optimizer step on the mean gradient of k
micro-batches, the strategy's hooks once, non-finite micro-batches handled as a whole step."""

import json
import types
from pathlib import Path

import pytest
import torch

from maskforge.cli import main
from maskforge.runs.loops import NonFiniteLossError, _optimizer_step


class Recorder:
    """A strategy that records the gradient its hooks see."""

    def __init__(self, param):
        self.param, self.seen, self.calls = param, [], 0

    def before_step(self, step):
        self.calls += 1
        self.seen.append(self.param.grad.detach().clone())

    def after_step(self, step):
        return None


def _components(k: int, on_nonfinite: str = "stop"):
    train = types.SimpleNamespace(accumulate=k, on_nonfinite=on_nonfinite)
    return types.SimpleNamespace(recipe=types.SimpleNamespace(train=train), distributed=False, G_train=None, D_train=None)


def test_an_accumulated_step_applies_the_mean_gradient_of_its_micro_batches_once():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = torch.optim.SGD([w], lr=1.0)
    xs = [torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 3.0, 1.0]), torch.tensor([2.0, 1.0, 0.0])]
    start = w.detach().clone()
    mean = torch.stack([2 * (start @ x) * x for x in xs]).mean(0)  # d/dw (w.x)^2, averaged
    strategy, batches = Recorder(w), iter(xs)

    value = _optimizer_step(lambda: (w @ next(batches)) ** 2, "the loss", "G", 1, opt, strategy, _components(3), None, {})
    assert strategy.calls == 1 and torch.allclose(strategy.seen[0], mean)  # the strategy sees the mean gradient
    assert torch.allclose(w.detach(), start - mean)
    assert value.item() == pytest.approx(sum(float((start @ x) ** 2) for x in xs) / 3)


@pytest.mark.parametrize("policy", ["skip", "stop"])
def test_a_non_finite_micro_batch_skips_or_stops_the_whole_step(policy):
    w = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([w], lr=1.0)
    losses = iter([w.sum(), w.sum() * float("nan")])
    strategy, counters = Recorder(w), {}
    step = lambda: _optimizer_step(lambda: next(losses), "the G loss", "G", 7, opt, strategy, _components(2, policy), None, counters)
    if policy == "stop":
        with pytest.raises(NonFiniteLossError, match="step 7 .network G."):
            step()
    else:
        step()
        assert counters["skipped"] == 1 and w.grad is None  # the finite micro-batch's gradient is dropped too
    assert strategy.calls == 0 and torch.equal(w.detach(), torch.ones(2))


def test_a_recipe_run_with_accumulation_draws_k_micro_batches_per_step(tmp_path, monkeypatch):
    from maskforge.data.sources import ImageSource

    draws = []
    original = ImageSource.sample

    def counting(self, batch_size, generator, device="cpu"):
        draws.append(batch_size)
        return original(self, batch_size, generator, device)

    monkeypatch.setattr(ImageSource, "sample", counting)
    recipe = Path(__file__).parents[1] / "recipes" / "stu_digits.py"
    out = tmp_path / "run"
    sets = ["train.steps=2", "train.batch_size=4", "train.d_batch_size=3", "train.d_steps=2", "train.accumulate=3",
            "train.device=cpu", "output.sample_every=100", "output.checkpoint_every=100", "output.n_samples=4",
            "generator.options.width=0.25", "discriminator.options.width=0.25"]
    argv = ["run", str(recipe), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    training = [b for b in draws if b == 3]  # D's micro-batches of real images
    assert len(training) == 2 * 2 * 3  # steps x d_steps x accumulate
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "step"][-1] == 2


def test_ddp_reduces_gradients_only_on_the_last_micro_batch():
    import contextlib

    from maskforge.runs.loops import _no_sync

    entered = []

    class FakeDDP:
        def __init__(self, name):
            self.name = name

        @contextlib.contextmanager
        def no_sync(self):
            entered.append(self.name)
            yield

    c = types.SimpleNamespace(distributed=True, G_train=FakeDDP("G"), D_train=FakeDDP("D"))
    with _no_sync(c, last=False):
        pass
    assert entered == ["G", "D"]
    with _no_sync(c, last=True):
        pass
    c.distributed = False
    with _no_sync(c, last=False):
        pass
    assert entered == ["G", "D"]
