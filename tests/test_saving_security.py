"""Loading hostile files: each raises a clear error and has no side effect.

Every load runs inside :func:`no_side_effects`, which fails the test if a file under the test folder (or the
working directory) appears or changes, or if a module named by the attack is imported. Attack payloads are
built here byte by byte: pickles, hostile class names, path-traversal member names, zip bombs and
malformed safetensors headers.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import pickle
import re
import struct
import sys
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy

import highnn as hn
from highnn import saving
from highnn.saving import SavedFileError

pytestmark = pytest.mark.usefixtures("float64")

ATTACK_MODULES = {"os", "subprocess", "builtins", "pickle", "importlib", "shutil", "antigravity", "webbrowser"}
HOSTILE_NAMES = ["os.system", "builtins.eval", "subprocess.Popen", "antigravity.geohash"]


# ------------------------------------------------------------------ tooling
def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folders`` with its size and modification time."""
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for folder in folders for p in folder.rglob("*") if p.is_file()
    }


@contextmanager
def no_side_effects(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail unless the block writes no file and imports none of :data:`ATTACK_MODULES`."""
    requested: list[str] = []
    real_import, real_import_module = builtins.__import__, importlib.import_module

    def recording_import(name: str, *args: Any, **kwargs: Any) -> Any:
        requested.append(name)
        return real_import(name, *args, **kwargs)

    def recording_import_module(name: str, package: str | None = None) -> Any:
        requested.append(name)
        return real_import_module(name, package)

    files, cwd_files, modules = snapshot(folder), sorted(os.listdir(os.getcwd())), set(sys.modules)
    with monkeypatch.context() as patch:
        patch.setattr(builtins, "__import__", recording_import)
        patch.setattr(importlib, "import_module", recording_import_module)
        yield
    assert snapshot(folder) == files, "a file was written or changed"
    assert sorted(os.listdir(os.getcwd())) == cwd_files, "a file was written in the working directory"
    assert not {name.partition(".")[0] for name in requested} & ATTACK_MODULES, f"imports requested: {requested}"
    assert not {name.partition(".")[0] for name in set(sys.modules) - modules} & ATTACK_MODULES


def make_model(seed: int = 0) -> hn.Sequential:
    hn.utils.set_random_seed(seed)
    model = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(4, activation="relu"), hn.layers.Dense(2)])
    model.compile("adam", "mse", metrics=["mae"])
    return model


@pytest.fixture
def valid_members(tmp_path: Path) -> dict[str, bytes]:
    """The members of a genuine saved model (loaded once, so lazy imports of the happy path are done)."""
    model = make_model()
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    path = tmp_path / "genuine.highnn"
    model.save(path)
    hn.models.load_model(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    path.unlink()
    return members


def write_zip(path: Path, members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def with_config(members: dict[str, bytes], change: Callable[[dict[str, Any]], None]) -> list[tuple[str, bytes]]:
    """The members with ``change`` applied to the parsed config.json."""
    config = json.loads(members["config.json"])
    change(config)
    return [*{**members, "config.json": json.dumps(config).encode()}.items()]


def raw_safetensors(header: dict[str, Any] | bytes, data: bytes = b"", length: int | None = None) -> bytes:
    """A safetensors file from a header (object or raw bytes), data, and optionally a false header length."""
    body = header if isinstance(header, bytes) else json.dumps(header).encode()
    return (len(body) if length is None else length).to_bytes(8, "little") + body + data


def patch_central_directory(data: bytes, member: str, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of ``member``'s central-directory record (offsets from the zip specification)."""
    start = 0
    while True:
        start = data.index(b"PK\x01\x02", start)
        (name_length,) = struct.unpack_from("<H", data, start + 28)
        if data[start + 46 : start + 46 + name_length] == member.encode():
            patched = bytearray(data)
            struct.pack_into(fmt, patched, start + offset, value)
            return bytes(patched)
        start += 4


UNCOMPRESSED_SIZE, FLAGS = (24, "<I"), (8, "<H")


class Payload:
    """A pickle that creates ``sentinel`` when unpickled."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.sentinel), "w"))


# ------------------------------------------------------------------- pickles
def test_the_pickle_payload_is_live(tmp_path: Path) -> None:
    """Sanity check: unpickling the payload really creates its sentinel, so the tests below are meaningful."""
    pickle.loads(pickle.dumps(Payload(tmp_path / "proof"))).close()
    assert (tmp_path / "proof").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("model.weights.safetensors", "safetensors header length .* exceeds"),
        ("optimizer.safetensors", "safetensors header length .* exceeds"),
        ("config.json", "is not valid JSON"),
        ("the whole file", "not a zip archive"),
    ],
)
def test_pickle_payloads_are_never_unpickled(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, message: str
) -> None:
    sentinel = tmp_path / "sentinel"
    payload = pickle.dumps(Payload(sentinel))
    path = tmp_path / "hostile.highnn"
    if target == "the whole file":
        path.write_bytes(payload)
    else:
        write_zip(path, [*{**valid_members, target: payload}.items()])
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=message):
        hn.models.load_model(path)
    assert not sentinel.exists()


def test_a_pickle_weights_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "sentinel"
    path = tmp_path / "model.weights.safetensors"
    path.write_bytes(pickle.dumps(Payload(sentinel)))
    model = make_model()
    before = model.get_weights()
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match="safetensors header length"):
        model.load_weights(path)
    assert not sentinel.exists()
    for now, then in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)


# ---------------------------------------------------------- hostile class names
def _set_layer_class(config: dict[str, Any], name: str) -> None:
    config["config"]["layers"][1]["class_name"] = name


HOSTILE_ENTRIES: dict[str, tuple[str, Callable[[dict[str, Any], str], None]]] = {
    "model": ("model class", lambda c, n: c.update(class_name=n)),
    "layer": ("layer class", _set_layer_class),
    "optimizer": ("optimizer", lambda c, n: c["compile_config"]["optimizer"].update(class_name=n)),
    "loss": ("loss", lambda c, n: c["compile_config"]["loss"].update(class_name=n)),
    "metric object": ("metric", lambda c, n: c["compile_config"].update(metrics=[{"class_name": n, "config": {}}])),
    "metric string": ("metric", lambda c, n: c["compile_config"].update(metrics=[n])),
    "initializer": (
        "initializer",
        lambda c, n: c["config"]["layers"][1]["config"].update(kernel_initializer={"class_name": n, "config": {}}),
    ),
    "regularizer": (
        "regularizer",
        lambda c, n: c["config"]["layers"][1]["config"].update(kernel_regularizer={"class_name": n, "config": {}}),
    ),
    "activation": ("activation", lambda c, n: c["config"]["layers"][1]["config"].update(activation=n)),
}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("where", list(HOSTILE_ENTRIES))
def test_hostile_class_names_are_unknown_never_imported(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, name: str
) -> None:
    kind, change = HOSTILE_ENTRIES[where]
    path = write_zip(tmp_path / "hostile.highnn", with_config(valid_members, lambda config: change(config, name)))
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=f"Unknown {kind}: {name!r}"):
        hn.models.load_model(path)


def test_extra_module_fields_beside_class_names_are_ignored(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = {"module": "antigravity", "registered_name": "antigravity>geohash", "fn": "os.system"}

    def add_decoys(config: dict[str, Any]) -> None:
        config.update(decoy)
        for entry in config["config"]["layers"] + [
            config["compile_config"]["optimizer"],
            config["compile_config"]["loss"],
        ]:
            entry.update(decoy)

    path = write_zip(tmp_path / "decoys.highnn", with_config(valid_members, add_decoys))
    with no_side_effects(tmp_path, monkeypatch):
        loaded = hn.models.load_model(path)
    reference = make_model()
    reference.load_weights(write_zip(tmp_path / "genuine.highnn", [*valid_members.items()]))
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), reference.predict(x, verbose=0))


def test_extra_fields_inside_a_config_are_rejected(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_zip(
        tmp_path / "hostile.highnn",
        with_config(valid_members, lambda c: c["config"]["layers"][1]["config"].update(module="os")),
    )
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=r"cannot rebuild the model.*unexpected keyword argument 'module'"),
    ):
        hn.models.load_model(path)


# ------------------------------------------------------------- path traversal
@pytest.mark.parametrize(
    "name",
    ["../evil.py", "/tmp/highnn_abs_evil/evil.py", "..\\evil.py", "sub/../../evil.py", "config.json/../../evil.py"],
)
def test_path_traversal_member_names_are_never_written(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    folder = tmp_path / "inner"
    folder.mkdir()
    path = write_zip(folder / "hostile.highnn", [*valid_members.items(), (name, b"print('owned')")])
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=f"unexpected members {re.escape(repr([name]))}"),
    ):
        hn.models.load_model(path)
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/highnn_abs_evil").exists()


# ------------------------------------------------------------------ zip bombs
def test_a_member_declaring_a_huge_size_is_refused_before_reading(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_zip(tmp_path / "genuine.highnn", [*valid_members.items()]).read_bytes()
    path = tmp_path / "bomb.highnn"
    path.write_bytes(patch_central_directory(data, "config.json", *UNCOMPRESSED_SIZE, 0xFFFFFFF0))
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(
            SavedFileError, match=r"'config.json'\) declares 4294967280 bytes, more than the limit of 16777216"
        ),
    ):
        hn.models.load_model(path)


@pytest.fixture
def deflate_bomb(valid_members: dict[str, bytes], tmp_path: Path) -> bytes:
    """An archive whose weights member is 64 MiB of zeros deflated to about 64 KiB."""
    members = [*{**valid_members, "model.weights.safetensors": bytes(64 * 2**20)}.items()]
    return write_zip(tmp_path / "bomb.zip", members, zipfile.ZIP_DEFLATED).read_bytes()


def test_a_deflate_bomb_over_the_limit_is_refused(
    deflate_bomb: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(deflate_bomb) < 2**20
    path = tmp_path / "bomb.highnn"
    path.write_bytes(deflate_bomb)
    monkeypatch.setattr(saving, "MAX_TENSOR_BYTES", 8 * 2**20)
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match="declares 67108864 bytes, more than the limit of 8388608"),
    ):
        hn.models.load_model(path)


def test_a_deflate_bomb_lying_about_its_size_is_read_bounded(
    deflate_bomb: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.highnn"
    path.write_bytes(patch_central_directory(deflate_bomb, "model.weights.safetensors", *UNCOMPRESSED_SIZE, 1000))
    tracemalloc.start()
    try:
        with (
            no_side_effects(tmp_path, monkeypatch),
            pytest.raises(SavedFileError, match=r"'model\.weights\.safetensors'\) cannot be read: Bad CRC-32"),
        ):
            hn.models.load_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # far below the 64 MiB the member decompresses to


@pytest.mark.parametrize("compression", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compression_methods_without_bounded_reads_are_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: int
) -> None:
    path = write_zip(tmp_path / "model.highnn", [*valid_members.items()], compression)
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=f"compression method {compression}; highnn reads stored or deflated"),
    ):
        hn.models.load_model(path)


# -------------------------------------------------------- safetensors headers
def highnn_metadata(*names: str) -> dict[str, str]:
    return {"highnn": json.dumps({"format": "highnn.weights", "format_version": 1, "order": list(names)})}


F64 = {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}
HEADER_CASES: dict[str, tuple[bytes, str]] = {
    "empty file": (b"", "0 bytes, too short for a safetensors file"),
    "shorter than the length field": (b"\x01\x00\x00", "3 bytes, too short"),
    "header length 2**64-1": (
        raw_safetensors({"w": F64}, bytes(16), length=2**64 - 1),
        "header length 18446744073709551615 exceeds",
    ),
    "header length past the end": (
        raw_safetensors({"w": F64}, bytes(16), length=10_000),
        "header length 10000 exceeds",
    ),
    "header not JSON": (raw_safetensors(b"\x80\x04not json"), "header is not valid JSON"),
    "header nested too deep": (raw_safetensors(b"[" * 100_000 + b"]" * 100_000), "header is not valid JSON"),
    "header a list": (raw_safetensors(b"[1, 2]"), "header must hold a JSON object, found list"),
    "repeated tensor names": (raw_safetensors(b'{"w": {}, "w": {}}'), "repeated keys \\['w'\\]"),
    "metadata not strings": (raw_safetensors({"__metadata__": {"a": 1}}), "__metadata__ must map strings to strings"),
    "shape larger than the data": (
        raw_safetensors({"w": {**F64, "shape": [1000]}}, bytes(16)),
        "needs 8000 bytes, but its data_offsets span 16",
    ),
    "shape product wrapping 2**64": (
        raw_safetensors({"w": {**F64, "shape": [2**32, 2**32], "data_offsets": [0, 0]}}),
        "needs 147573952589676412928 bytes, but its data_offsets span 0",
    ),
    "shape product times itemsize wrapping 2**64": (
        raw_safetensors({"w": {**F64, "shape": [2**62, 4], "data_offsets": [0, 0]}}),
        "needs 147573952589676412928 bytes",
    ),
    "negative dimension": (
        raw_safetensors({"w": {**F64, "shape": [-1, 2]}}, bytes(16)),
        "a list of at most 32 non-negative integers",
    ),
    "boolean dimension": (raw_safetensors({"w": {**F64, "shape": [True, 2]}}, bytes(16)), "non-negative integers"),
    "float dimension": (raw_safetensors({"w": {**F64, "shape": [2.0]}}, bytes(16)), "non-negative integers"),
    "too many dimensions": (
        raw_safetensors({"w": {**F64, "shape": [1] * 33, "data_offsets": [0, 8]}}, bytes(8)),
        "at most 32",
    ),
    "unknown dtype": (
        raw_safetensors({"w": {**F64, "dtype": "PICKLE"}}, bytes(16)),
        "dtype 'PICKLE'; supported dtypes are BOOL",
    ),
    "dtype NumPy cannot hold": (raw_safetensors({"w": {**F64, "dtype": "BF16"}}, bytes(16)), "dtype 'BF16'"),
    "dtype not a string": (raw_safetensors({"w": {**F64, "dtype": ["F64"]}}, bytes(16)), "dtype \\['F64'\\]"),
    "extra tensor field": (
        raw_safetensors({"w": {**F64, "module": "os"}}, bytes(16)),
        "exactly dtype, shape and data_offsets",
    ),
    "missing tensor field": (
        raw_safetensors({"w": {"dtype": "F64", "shape": [2]}}, bytes(16)),
        "exactly dtype, shape and data_offsets",
    ),
    "offsets reversed": (
        raw_safetensors({"w": {**F64, "data_offsets": [16, 0]}}, bytes(16)),
        "data_offsets \\[16, 0\\] outside",
    ),
    "offsets past the buffer": (
        raw_safetensors({"w": {**F64, "data_offsets": [8, 24]}}, bytes(16)),
        "data_offsets \\[8, 24\\] outside the 16-byte data buffer",
    ),
    "overlapping tensors": (
        raw_safetensors({"a": F64, "b": {**F64, "data_offsets": [8, 24]}}, bytes(24)),
        "tensor 'b' starts at byte 8, expected 16",
    ),
    "trailing bytes": (raw_safetensors({"w": F64}, bytes(20)), "cover 16 of the 20 data bytes"),
    "not written by highnn": (raw_safetensors({"w": F64}, bytes(16)), "not a highnn.weights file written by highnn"),
    "newer format": (
        raw_safetensors(
            {
                "__metadata__": {
                    "highnn": json.dumps({"format": "highnn.weights", "format_version": 99, "order": ["w"]})
                },
                "w": F64,
            },
            bytes(16),
        ),
        "format version 99",
    ),
    "order missing a tensor": (
        raw_safetensors({"__metadata__": highnn_metadata("v"), "w": F64}, bytes(16)),
        "does not list each tensor",
    ),
    "order of objects": (
        raw_safetensors(
            {
                "__metadata__": {
                    "highnn": json.dumps({"format": "highnn.weights", "format_version": 1, "order": [{}]})
                },
                "w": F64,
            },
            bytes(16),
        ),
        "does not list each tensor",
    ),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_malformed_safetensors_are_refused_before_the_library_sees_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    data, message = HEADER_CASES[case]
    path = tmp_path / "model.weights.safetensors"
    path.write_bytes(data)
    model = make_model()

    def library_reached(data: bytes) -> None:
        raise AssertionError("the safetensors library was handed an unvalidated file")

    monkeypatch.setattr(safetensors.numpy, "load", library_reached)
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=message):
        model.load_weights(path)


def test_a_truncated_weights_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_model()
    model.save_weights(tmp_path / "model.weights.safetensors")
    data = (tmp_path / "model.weights.safetensors").read_bytes()
    (tmp_path / "cut.weights.safetensors").write_bytes(data[:-4])
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=r"outside the .*-byte data buffer: truncated"),
    ):
        model.load_weights(tmp_path / "cut.weights.safetensors")


def test_a_hostile_header_inside_an_archive_is_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = raw_safetensors({"w": {**F64, "shape": [2**40], "data_offsets": [0, 16]}}, bytes(16))
    path = write_zip(tmp_path / "hostile.highnn", [*{**valid_members, "optimizer.safetensors": bomb}.items()])
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=r"'optimizer.safetensors'\): tensor 'w': shape \[1099511627776\]"),
    ):
        hn.models.load_model(path)


def test_weights_of_the_wrong_shape_for_the_config_are_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_zip(
        tmp_path / "hostile.highnn",
        with_config(valid_members, lambda c: c["config"]["layers"][1]["config"].update(units=3)),
    )
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(ValueError, match=r"weights 0 .* has shape \(3, 4\) in the file but \(3, 3\) in the model"),
    ):
        hn.models.load_model(path)


# ------------------------------------------------------------ broken archives
def _archive(valid: dict[str, bytes], tmp_path: Path, case: str) -> bytes:
    genuine = write_zip(tmp_path / "genuine.zip", [*valid.items()]).read_bytes()
    if case == "empty file":
        return b""
    if case == "text file":
        return b"just some text, not an archive"
    if case == "truncated archive":
        return genuine[: len(genuine) // 2]
    if case == "empty zip":
        return write_zip(tmp_path / "empty.zip", []).read_bytes()
    if case == "weights missing":
        return write_zip(tmp_path / "partial.zip", [("config.json", valid["config.json"])]).read_bytes()
    if case == "repeated member":
        with pytest.warns(UserWarning, match="Duplicate name"):
            return write_zip(tmp_path / "twice.zip", [*valid.items(), ("config.json", b"{}")]).read_bytes()
    if case == "encrypted member":
        return patch_central_directory(genuine, "model.weights.safetensors", *FLAGS, 0x1)
    if case == "corrupted member":
        start = genuine.index(b'"format_version": 1')  # inside the stored config.json
        return genuine[:start] + b'"format_version": 2' + genuine[start + 19 :]
    raise AssertionError(case)


ARCHIVE_CASES = {
    "empty file": "is empty \\(0 bytes\\)",
    "text file": "not a zip archive",
    "truncated archive": "not a zip archive",
    "empty zip": "lacks the member\\(s\\) \\['config.json', 'model.weights.safetensors'\\]",
    "weights missing": "lacks the member\\(s\\) \\['model.weights.safetensors'\\]",
    "repeated member": "holds the member\\(s\\) \\['config.json'\\] more than once",
    "encrypted member": "is encrypted",
    "corrupted member": "cannot be read: Bad CRC-32",
}


@pytest.mark.parametrize("case", list(ARCHIVE_CASES))
def test_broken_archives_are_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    path = tmp_path / "model.highnn"
    path.write_bytes(_archive(valid_members, tmp_path, case))
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=ARCHIVE_CASES[case]):
        hn.models.load_model(path)


CONFIG_CASES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "no format version": (lambda c: c.pop("format_version"), "no valid format_version"),
    "newer format version": (lambda c: c.update(format_version=2), "written by a newer highnn \\(format version 2"),
    "class name missing": (lambda c: c.pop("class_name"), "the model must be an object with a string class_name"),
    "class name not a string": (lambda c: c.update(class_name=["Sequential"]), "string class_name"),
    "layers not a list": (lambda c: c["config"].update(layers={"0": {}}), "layers must be a list"),
    "layer entry not an object": (
        lambda c: c["config"].update(layers=["Dense"]),
        "layer 0 must be an object",
    ),
    "negative input shape": (
        lambda c: c["config"]["layers"].pop(0) and c.update(build_config={"input_shape": [None, -3]}),
        "input_shape must be a list of positive integers",
    ),
    "compile config not an object": (lambda c: c.update(compile_config="adam"), "compile_config must be an object"),
    "metrics not a list": (
        lambda c: c["compile_config"].update(metrics="mae"),
        "compile_config.metrics must be a list",
    ),
    "bad steps_per_execution": (
        lambda c: c["compile_config"].update(steps_per_execution=-1),
        "steps_per_execution must be a positive integer",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_malformed_configs_are_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    change, message = CONFIG_CASES[case]
    path = write_zip(tmp_path / "model.highnn", with_config(valid_members, change))
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=message):
        hn.models.load_model(path)


def test_config_json_that_is_not_an_object_is_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_zip(tmp_path / "model.highnn", [*{**valid_members, "config.json": b'["Sequential"]'}.items()])
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=r"'config.json'\) must hold a JSON object, found list"),
    ):
        hn.models.load_model(path)


def test_an_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.weights.safetensors"
    path.write_bytes(bytes(4096))
    monkeypatch.setattr(saving, "MAX_TENSOR_BYTES", 1024)
    model = make_model()
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match="is 4096 bytes, more than the limit of 1024 bytes"),
    ):
        model.load_weights(path)


# ------------------------------------------------- configs the file does not pay for
HUGE_KERNEL = (
    r"model\.highnn.*weight 'dense\w*/kernel' of shape \(3, 1099511627776\) "
    r"needs 3298534883328 elements, more than the 26 left of what the file holds"
)


def test_a_huge_layer_in_a_small_file_is_refused_before_allocating(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_zip(
        tmp_path / "model.highnn",
        with_config(valid_members, lambda c: c["config"]["layers"][1]["config"].update(units=2**40)),
    )
    assert path.stat().st_size < 8000
    tracemalloc.start()
    try:
        with (
            no_side_effects(tmp_path, monkeypatch),
            pytest.raises(SavedFileError, match=HUGE_KERNEL),
        ):
            hn.models.load_model(path)
        assert tracemalloc.get_traced_memory()[1] < 50 * 2**20
    finally:
        tracemalloc.stop()


def test_too_many_layers_and_too_deep_json_are_refused(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saving, "MAX_LAYERS", 2)
    path = write_zip(tmp_path / "model.highnn", [*valid_members.items()])
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match="declares 3 layers, more than the limit of 2"),
    ):
        hn.models.load_model(path)
    monkeypatch.undo()
    deep: Any = 0
    for _ in range(100):
        deep = [deep]
    path = write_zip(tmp_path / "model.highnn", with_config(valid_members, lambda c: c.update(extra=deep)))
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match="nests objects and arrays more than 64 deep"),
    ):
        hn.models.load_model(path)


def _set_field(layer: int, **fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: c["config"]["layers"][layer]["config"].update(fields)


FIELD_CASES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "use_bias not a bool": (
        _set_field(1, use_bias="yes"),
        r"layer 1 \(Dense\): `use_bias` must be True or False, received 'yes'",
    ),
    "name not a string": (_set_field(2, name=5), r"layer 2 \(Dense\): `name` must be a string, received 5"),
    "trainable not a bool": (_set_field(1, trainable=1), r"`trainable` must be True or False, received 1"),
    "integer dtype": (
        _set_field(0, dtype="int64"),
        r"layer 0 \(InputLayer\): `dtype` must be one of .*, received 'int64'",
    ),
    "zero batch size": (_set_field(0, batch_size=0), r"`batch_size` must be an integer >= 1, received 0"),
    "model name not a string": (lambda c: c["config"].update(name=["m"]), r"the model: `name` must be a string"),
    "seed out of range": (
        lambda c: c["config"]["layers"].insert(2, {"class_name": "Dropout", "config": {"rate": 0.5, "seed": 2**70}}),
        r"layer 2 \(Dropout\): `seed` must be an integer in \[0, 4294967295\]",
    ),
    "regularizer factor not finite": (
        _set_field(1, kernel_regularizer={"class_name": "L2", "config": {"l2": float("nan")}}),
        r"L2: `l2` must be a number >= 0, received nan",
    ),
    "learning rate not finite": (
        lambda c: c["compile_config"]["optimizer"]["config"].update(learning_rate=float("inf")),
        r"`learning_rate` must be a number >= 0, received inf",
    ),
}


@pytest.mark.parametrize("case", list(FIELD_CASES))
def test_config_fields_of_the_wrong_type_or_range_are_refused_naming_the_file_and_field(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    change, message = FIELD_CASES[case]
    path = write_zip(tmp_path / "model.highnn", with_config(valid_members, change))
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=r"model\.highnn'.*" + message):
        hn.models.load_model(path)


def _replace_tensors(
    members: dict[str, bytes], member: str, change: Callable[[str, np.ndarray], np.ndarray]
) -> list[tuple[str, bytes]]:
    """The members with ``change(name, array)`` applied to each tensor of ``member`` (the metadata kept)."""
    data = members[member]
    metadata = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])["__metadata__"]
    arrays = {name: change(name, array) for name, array in safetensors.numpy.load(data).items()}
    return [*{**members, member: safetensors.numpy.save(arrays, metadata=metadata)}.items()]


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_weights_stored_in_another_kind_of_dtype_are_refused_not_cast(
    valid_members: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: type
) -> None:
    members = _replace_tensors(valid_members, "model.weights.safetensors", lambda _, a: a.astype(dtype))
    path = write_zip(tmp_path / "model.highnn", members)
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=rf"model\.highnn': weights 0 .* is stored as {np.dtype(dtype)} but"),
    ):
        hn.models.load_model(path)
    model = make_model()
    before = model.get_weights()
    with pytest.raises(SavedFileError, match="it is not cast"):
        model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))


@pytest.mark.parametrize(
    ("target", "value", "message"),
    [
        ("/iterations", -5, r"'[\w/]*iterations' must be a non-negative scalar"),
        ("/learning_rate", -0.5, r"'[\w/]*learning_rate' must be a non-negative scalar"),
        ("/learning_rate", np.nan, r"'[\w/]*learning_rate' holds NaN or infinite values"),
        ("_momentum", np.inf, r"'[\w/]+_momentum' holds NaN or infinite values"),
    ],
)
def test_insane_optimizer_state_is_refused(
    valid_members: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    value: float,
    message: str,
) -> None:
    def change(name: str, array: np.ndarray) -> np.ndarray:
        return np.full_like(array, value) if target in name else array

    members = _replace_tensors(valid_members, "optimizer.safetensors", change)
    path = write_zip(tmp_path / "model.highnn", members)
    with (
        no_side_effects(tmp_path, monkeypatch),
        pytest.raises(SavedFileError, match=r"optimizer\.safetensors'\): " + message),
    ):
        hn.models.load_model(path)


# --------------------------------------------------- zip features and odd paths
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (FLAGS, 0x20, r"is encrypted or holds patched data \(zip flags 0x20\)"),
        (FLAGS, 0x40, r"is encrypted or holds patched data \(zip flags 0x40\)"),
        ((6, "<H"), 99, r"uses a zip feature highnn archives never use \(zip file version 9\.9\)"),
    ],
)
def test_unsupported_zip_features_raise_saved_file_error(
    valid_members: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: tuple[int, str],
    value: int,
    message: str,
) -> None:
    genuine = write_zip(tmp_path / "genuine.zip", [*valid_members.items()]).read_bytes()
    path = tmp_path / "model.highnn"
    path.write_bytes(patch_central_directory(genuine, "config.json", *field, value))
    with no_side_effects(tmp_path, monkeypatch), pytest.raises(SavedFileError, match=message):
        hn.models.load_model(path)


def _loads_within(seconds: float, path: Path) -> BaseException | None:
    """The error ``load_model(path)`` raises, failing the test if it does not return within ``seconds``."""
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            hn.models.load_model(path)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"loading {path} did not return within {seconds} s"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_at_once_not_read_forever(tmp_path: Path) -> None:
    fifo = tmp_path / "model.highnn"
    os.mkfifo(fifo)
    error = _loads_within(10, fifo)
    assert isinstance(error, SavedFileError) and re.search(r"model\.highnn': it is not a regular file", str(error))


def test_a_device_or_a_directory_is_refused_naming_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "folder.highnn"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=r"folder\.highnn': it is a directory, not a file"):
        hn.models.load_model(folder)
    if os.path.exists("/dev/zero"):
        with pytest.raises(SavedFileError, match="'/dev/zero': it is not a regular file"):
            saving.archive.read_file("/dev/zero", 100)


# ------------------------------------------------------------ linear-time loading
def test_loading_a_config_of_many_layers_takes_linear_time(valid_members: dict[str, bytes], tmp_path: Path) -> None:
    many = [{"class_name": "ReLU", "config": {"name": f"relu_{i}"}} for i in range(20_000)]
    path = write_zip(
        tmp_path / "model.highnn",
        with_config(valid_members, lambda c: c["config"]["layers"].__setitem__(slice(1, 1), many)),
    )
    start = time.perf_counter()
    model = hn.models.load_model(path)
    elapsed = time.perf_counter() - start
    assert len(model.layers) == 20_002
    assert elapsed < 90, f"{elapsed:.0f} s: a quadratic build takes several minutes here, a linear one seconds"
