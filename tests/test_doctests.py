"""Examples in docstrings run as written."""

import doctest

import pytest

import maskforge.mask


@pytest.mark.parametrize("module", [maskforge.mask])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
