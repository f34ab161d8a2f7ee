"""The guides run as written: on each backend in turn, in the default float type, in a scratch directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import BACKENDS, require_backend

import highnn as hn


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each backend in turn (float32, as a guide runs), with the guide's files written under ``tmp_path``."""
    require_backend(request.param)
    monkeypatch.chdir(tmp_path)
    hn.utils.set_random_seed(1337)
    with hn.config.use_backend(request.param):
        yield request.param
