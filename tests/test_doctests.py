"""Examples in docstrings run as written."""

import doctest

import pytest

import maskforge.sparsity.mask


@pytest.mark.parametrize("module", [maskforge.sparsity.mask])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_readme_python_example_runs(monkeypatch, capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert blocks, "README.md should show a Python example"
    exec(compile(blocks[0], "README.md", "exec"), {})  # noqa: S102 - runs the README example as written, on purpose
    assert "total" in capsys.readouterr().out
