import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# Property tests: enough examples to find tie and edge-case bugs, no deadline (CPU CI is slow).
# Failing examples are kept in the checkout's .hypothesis/ (tests run in directories of their own).
_EXAMPLES = DirectoryBasedExampleDatabase(Path(__file__).parents[1] / ".hypothesis" / "examples")
settings.register_profile("default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          database=_EXAMPLES)
settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          database=_EXAMPLES)
settings.load_profile("ci" if os.environ.get("CI") else "default")

os.environ.setdefault("MASKFORGE_QUIET", "1")


@pytest.fixture(autouse=True)
def _fresh_plugins():
    """Each test sees plugins loaded afresh (tests may install or block plugins)."""
    from maskforge.plugin_system.manager import set_plugins

    set_plugins(None)
    yield
    set_plugins(None)


@pytest.fixture(autouse=True)
def _isolated_working_directory(tmp_path_factory, monkeypatch):
    """Each test runs in an empty directory of its own: a recipe's default output (``runs/<name>``)
    or data root then never touches the checkout, and a user's earlier main-job run there cannot
    change what a test sees."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
