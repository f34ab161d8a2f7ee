"""Fixtures shared by the conformance suite."""

from __future__ import annotations

import pytest
from helpers import require_backend


@pytest.fixture(autouse=True)
def _backend_installed(request: pytest.FixtureRequest) -> None:
    """A test parametrized with a ``backend`` that is not installed is skipped, saying so (failed under CI=true)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "backend" in callspec.params:
        require_backend(callspec.params["backend"])
