"""Fuzzing the ``.highnn`` reader: every mutation of a valid file loads or raises SavedFileError, nothing else."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import highnn as hn
from highnn.saving import SavedFileError

pytestmark = pytest.mark.usefixtures("float64")

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    with hn.config.use_backend("numpy", floatx="float64"):
        hn.utils.set_random_seed(0)
        model = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(4, activation="relu"), hn.layers.Dense(2)])
        model.compile("adam", "mse", metrics=["mae"])
        model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
        path = tmp_path_factory.mktemp("genuine") / "model.highnn"
        model.save(path)
    return path.read_bytes()


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def zipped(members: dict[str, bytes]) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return stream.getvalue()


def load_or_refuse(data: bytes, folder: Path) -> None:
    """Load ``data`` as a model file: it must load, or fail with SavedFileError and nothing else."""
    path = folder / "fuzzed.highnn"
    path.write_bytes(data)
    try:
        hn.models.load_model(path)
    except SavedFileError as error:
        assert "fuzzed.highnn" in str(error)


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 2**32), st.integers(1, 255)), min_size=1, max_size=8))
def test_flipped_bytes(genuine: bytes, tmp_path: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(genuine)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    load_or_refuse(bytes(data), tmp_path)


@FUZZ
@given(
    name=st.sampled_from(["config.json", "model.weights.safetensors", "optimizer.safetensors"]), keep=st.floats(0, 1)
)
def test_truncated_members(genuine: bytes, tmp_path: Path, name: str, keep: float) -> None:
    members = members_of(genuine)
    members[name] = members[name][: int(len(members[name]) * keep)]
    load_or_refuse(zipped(members), tmp_path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.extend(_paths(child, (*prefix, key)))
    return found


@FUZZ
@given(data=st.data())
def test_random_json_edits(genuine: bytes, tmp_path: Path, data: st.DataObject) -> None:
    members = members_of(genuine)
    config = json.loads(members["config.json"])
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(config)[1:]))
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) or not isinstance(parent, dict):
            parent[path[-1]] = data.draw(JSON_VALUES)
        else:
            del parent[path[-1]]
    members["config.json"] = json.dumps(config).encode()
    load_or_refuse(zipped(members), tmp_path)
