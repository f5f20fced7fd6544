"""Meta-tests: every hook is documented, and every hook is exercised by some test."""

import inspect
from pathlib import Path

import pytest

from maskforge.plugin_system import hookspecs

HOOKS = [name for name, fn in vars(hookspecs).items() if name.startswith("maskforge_") and callable(fn)]


def test_there_are_registration_and_lifecycle_hooks():
    assert "maskforge_register" in HOOKS
    assert {"maskforge_run_start", "maskforge_step_end", "maskforge_mask_update", "maskforge_checkpoint", "maskforge_run_end"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_documents_when_it_is_called_its_arguments_and_return(name):
    fn = getattr(hookspecs, name)
    doc = inspect.getdoc(fn) or ""
    assert len(doc.splitlines()[0]) > 10, f"{name} needs a one-line summary"
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{name} does not document its argument {arg!r}"
    assert ":return:" in doc, f"{name} does not say what a return value means"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_exercised_by_a_test(name):
    here = Path(__file__)
    users = [p for p in here.parent.rglob("test_*.py") if p != here and name in p.read_text()]
    assert users, f"no test exercises the hook {name}"
