"""Saving and loading: the ``.highnn`` archive, ``.weights.safetensors`` files, atomic writes, every backend.

Expected contents are read back independently (``zipfile``, ``json``, ``safetensors.numpy``) and compared with
the live model's own values; nothing is copied from the implementation.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
from helpers import BACKENDS, require_backend

import highnn as hn
from highnn import saving
from highnn.saving import SavedFileError

pytestmark = pytest.mark.usefixtures("float64")


def make_model(seed: int = 0, units: int = 4, compile: bool = True, metrics: list[Any] | None = None) -> hn.Sequential:
    hn.utils.set_random_seed(seed)
    model = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(units, activation="tanh"), hn.layers.Dense(2)])
    if compile:
        model.compile(hn.optimizers.Adam(0.01), "mse", metrics=metrics)
    return model


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)), rng.normal(size=(16, 2))


@pytest.fixture
def trained(data: tuple[np.ndarray, np.ndarray]) -> hn.Sequential:
    model = make_model(metrics=["mae"])
    model.fit(*data, epochs=2, batch_size=4, verbose=0)
    return model


def json_round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value))


def safetensors_header(data: bytes) -> dict[str, Any]:
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length])


def assert_same_values(variables_a: list[hn.Variable], variables_b: list[hn.Variable]) -> None:
    assert [v.shape for v in variables_a] == [v.shape for v in variables_b]
    for a, b in zip(variables_a, variables_b, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------ round trips
def test_round_trip_restores_architecture_weights_optimizer_and_predictions(
    trained: hn.Sequential, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "model.highnn"
    trained.save(path)
    loaded = hn.models.load_model(path)

    assert type(loaded) is hn.Sequential and loaded.get_config() == trained.get_config()
    assert [w.path for w in loaded.weights] == [w.path for w in trained.weights]
    assert_same_values(loaded.weights, trained.weights)
    np.testing.assert_array_equal(loaded.predict(data[0], verbose=0), trained.predict(data[0], verbose=0))
    assert (
        type(loaded.optimizer) is hn.optimizers.Adam and loaded.optimizer.get_config() == trained.optimizer.get_config()
    )
    assert int(loaded.optimizer.iterations.numpy()) == 8  # 2 epochs of 4 batches
    assert_same_values(loaded.optimizer.variables, trained.optimizer.variables)
    assert type(loaded.loss) is hn.losses.MeanSquaredError

    # The restored Adam moments and step count make further training identical.
    for model in (trained, loaded):
        hn.utils.set_random_seed(5)
        model.fit(*data, epochs=1, batch_size=4, verbose=0)
    assert_same_values(loaded.weights, trained.weights)


def test_archive_holds_config_weights_and_optimizer_state(trained: hn.Sequential, tmp_path: Path) -> None:
    path = tmp_path / "model.highnn"
    trained.save(path)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["config.json", "model.weights.safetensors", "optimizer.safetensors"]
        config = json.loads(archive.read("config.json"))
        weights_bytes = archive.read("model.weights.safetensors")
        optimizer_bytes = archive.read("optimizer.safetensors")

    assert config["format_version"] == 1 and config["highnn_version"] == hn.__version__
    assert config["class_name"] == "Sequential" and config["config"] == json_round_trip(trained.get_config())
    assert config["build_config"] == {"input_shape": [None, 3]}
    compile_config = config["compile_config"]
    assert compile_config["optimizer"] == json_round_trip(hn.optimizers.serialize(trained.optimizer))
    assert compile_config["loss"] == json_round_trip(hn.losses.serialize(trained.loss))
    assert [entry["config"]["name"] for entry in compile_config["metrics"]] == ["mae"]

    for data, variables in ((weights_bytes, trained.weights), (optimizer_bytes, trained.optimizer.variables)):
        tensors = safetensors.numpy.load(data)
        assert set(tensors) == {v.path for v in variables}
        for variable in variables:
            np.testing.assert_array_equal(tensors[variable.path], variable.numpy())
        assert json.loads(safetensors_header(data)["__metadata__"]["highnn"])["order"] == [v.path for v in variables]


def test_saving_twice_gives_identical_bytes(trained: hn.Sequential, tmp_path: Path) -> None:
    trained.save(tmp_path / "a.highnn")
    trained.save(tmp_path / "b.highnn")
    assert (tmp_path / "a.highnn").read_bytes() == (tmp_path / "b.highnn").read_bytes()


def test_include_optimizer_false_saves_no_optimizer_state(trained: hn.Sequential, tmp_path: Path) -> None:
    path = tmp_path / "model.highnn"
    trained.save(path, include_optimizer=False)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["config.json", "model.weights.safetensors"]
    loaded = hn.models.load_model(path)
    assert loaded.compiled and loaded.optimizer.get_config() == trained.optimizer.get_config()
    assert int(loaded.optimizer.iterations.numpy()) == 0
    assert_same_values(loaded.weights, trained.weights)


def test_uncompiled_model_and_compile_false(
    trained: hn.Sequential, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    plain = make_model(compile=False)
    plain.save(tmp_path / "plain.highnn")
    with zipfile.ZipFile(tmp_path / "plain.highnn") as archive:
        assert json.loads(archive.read("config.json"))["compile_config"] is None
    assert not hn.models.load_model(tmp_path / "plain.highnn").compiled

    trained.save(tmp_path / "trained.highnn")
    uncompiled = hn.models.load_model(tmp_path / "trained.highnn", compile=False)
    assert not uncompiled.compiled
    np.testing.assert_array_equal(uncompiled.predict(data[0], verbose=0), trained.predict(data[0], verbose=0))


def test_model_without_input_is_rebuilt_from_its_build_config(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    hn.utils.set_random_seed(1)
    model = hn.Sequential([hn.layers.Dense(3, activation="relu"), hn.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(*data, epochs=1, verbose=0)
    model.save(tmp_path / "model.highnn")
    loaded = hn.models.load_model(tmp_path / "model.highnn")
    assert loaded.built
    np.testing.assert_array_equal(loaded.predict(data[0], verbose=0), model.predict(data[0], verbose=0))


def test_metric_objects_and_strings_round_trip(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    model = make_model(metrics=[hn.metrics.MeanAbsoluteError(name="abs_error"), "mse"])
    model.fit(*data, epochs=1, verbose=0)
    model.save(tmp_path / "model.highnn")
    loaded = hn.models.load_model(tmp_path / "model.highnn")
    expected = model.evaluate(*data, verbose=0, return_dict=True)
    assert set(expected) == {"loss", "abs_error", "mse"}
    assert loaded.evaluate(*data, verbose=0, return_dict=True) == expected


def doubled_squared_error(y_true: Any, y_pred: Any) -> hn.Tensor:
    return hn.ops.mean((y_pred - y_true) * (y_pred - y_true), axis=-1) * 2.0


class Scale(hn.layers.Layer):
    """One learned factor per feature: a custom layer for ``custom_objects``."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.factor = self.add_weight((input_shape[-1],), "ones", name="factor")

    def call(self, inputs: hn.Tensor) -> hn.Tensor:
        return inputs * self.factor


def test_custom_layers_and_losses_need_custom_objects(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    hn.utils.set_random_seed(2)
    model = hn.Sequential([hn.Input(shape=(3,)), Scale(), hn.layers.Dense(2)])
    model.compile("adam", doubled_squared_error)
    model.fit(*data, epochs=1, verbose=0)
    path = tmp_path / "model.highnn"
    model.save(path)

    with pytest.raises(SavedFileError, match="Unknown layer class: 'Scale'"):
        hn.models.load_model(path)
    with pytest.raises(SavedFileError, match=r"Unknown loss: 'doubled_squared_error'.*custom_objects"):
        hn.models.load_model(path, custom_objects={"Scale": Scale})
    loaded = hn.models.load_model(path, custom_objects={"Scale": Scale, "doubled_squared_error": doubled_squared_error})
    np.testing.assert_array_equal(loaded.predict(data[0], verbose=0), model.predict(data[0], verbose=0))
    x, y = data
    expected_loss = np.mean(2.0 * np.mean((model.predict(x, verbose=0) - y) ** 2, axis=-1))
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0, batch_size=16), expected_loss, rtol=1e-12)
    for wrong in ({1: Scale}, {"Scale": "Scale"}):
        with pytest.raises(TypeError, match="`custom_objects` must map names \\(str\\) to classes or functions"):
            hn.models.load_model(path, custom_objects=wrong)


def test_float64_file_loads_into_a_float32_session(
    trained: hn.Sequential, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    trained.save(tmp_path / "model.highnn")
    with hn.config.use_backend("numpy", floatx="float32"):
        loaded = hn.models.load_model(tmp_path / "model.highnn")
        assert all(w.dtype == "float32" for w in loaded.weights)
        prediction = loaded.predict(data[0], verbose=0)
    np.testing.assert_allclose(prediction, trained.predict(data[0], verbose=0), rtol=1e-5, atol=1e-6)


# -------------------------------------------------------------- weights files
def test_save_and_load_weights_by_position(
    trained: hn.Sequential, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "model.weights.safetensors"
    trained.save_weights(path)
    fresh = make_model(seed=9, compile=False)  # other initial values, other layer names
    assert [w.path for w in fresh.weights] != [w.path for w in trained.weights]
    fresh.load_weights(path)
    assert_same_values(fresh.weights, trained.weights)
    np.testing.assert_array_equal(fresh.predict(data[0], verbose=0), trained.predict(data[0], verbose=0))
    tensors = safetensors.numpy.load(path.read_bytes())
    assert set(tensors) == {w.path for w in trained.weights}


def test_load_weights_from_a_model_archive(trained: hn.Sequential, tmp_path: Path) -> None:
    trained.save(tmp_path / "model.highnn")
    fresh = make_model(seed=3, compile=False)
    fresh.load_weights(tmp_path / "model.highnn")
    assert_same_values(fresh.weights, trained.weights)


def test_load_weights_checks_count_and_shapes_before_changing_anything(trained: hn.Sequential, tmp_path: Path) -> None:
    path = tmp_path / "model.weights.safetensors"
    trained.save_weights(path)
    wider = make_model(seed=4, units=5, compile=False)
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"weights 0 .*has shape \(3, 4\) in the file but \(3, 5\) in the model"):
        wider.load_weights(path)
    for now, then in zip(wider.get_weights(), before, strict=True):
        np.testing.assert_array_equal(now, then)

    hn.utils.set_random_seed(4)
    deeper = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(4), hn.layers.Dense(4), hn.layers.Dense(2)])
    with pytest.raises(ValueError, match="holds 4 weights but the model has 6"):
        deeper.load_weights(path)


# ------------------------------------------------------------------ path rules
@pytest.mark.parametrize(
    ("action", "filename", "error", "message"),
    [
        ("save", "model.keras", ValueError, r"save: `filepath` must end in `\.highnn`, received '.*model\.keras'"),
        ("save_weights", "model.weights.h5", ValueError, r"`filepath` must end in `\.weights\.safetensors`"),
        ("load_model", "model.weights.safetensors", ValueError, r"load_model: `filepath` must end in `\.highnn`"),
        ("load_weights", "model.txt", ValueError, r"must end in `\.weights\.safetensors` or `\.highnn`"),
        ("load_model", "missing.highnn", FileNotFoundError, "No file found at"),
        ("save", "no_such_dir/model.highnn", FileNotFoundError, "the directory .* does not exist"),
    ],
)
def test_path_errors(
    trained: hn.Sequential, tmp_path: Path, action: str, filename: str, error: type[Exception], message: str
) -> None:
    path = tmp_path / filename
    call = {"save": trained.save, "save_weights": trained.save_weights, "load_weights": trained.load_weights,
            "load_model": hn.models.load_model}[action]  # fmt: skip
    with pytest.raises(error, match=message):
        call(path)
    assert not path.exists()


def test_argument_type_errors(trained: hn.Sequential, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"save: `filepath` must be a str or os\.PathLike, received 123"):
        trained.save(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="save: `model` must be a highnn Model, received 'model'"):
        saving.save_model("model", tmp_path / "m.highnn")  # type: ignore[arg-type]
    (tmp_path / "folder.highnn").mkdir()
    with pytest.raises(IsADirectoryError, match="existing directory"):
        trained.save(tmp_path / "folder.highnn")


def test_duplicate_weight_paths_are_refused(tmp_path: Path) -> None:
    model = hn.Sequential([hn.Input(shape=(2,)), hn.layers.Dense(2, name="twin"), hn.layers.Dense(2, name="twin")])
    with pytest.raises(
        ValueError, match=r"share the path\(s\) \['twin/bias', 'twin/kernel'\]; give the layers unique names"
    ):
        model.save(tmp_path / "model.highnn")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("action", ["save", "save_weights"])
def test_overwrite_false_keeps_an_existing_file(trained: hn.Sequential, tmp_path: Path, action: str) -> None:
    path = tmp_path / ("model.highnn" if action == "save" else "model.weights.safetensors")
    path.write_bytes(b"previous")
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        getattr(trained, action)(path, overwrite=False)
    assert path.read_bytes() == b"previous"


# -------------------------------------------------------------- atomic writes
def test_a_serializer_failing_mid_archive_leaves_the_previous_file(
    trained: hn.Sequential, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "model.highnn"
    trained.save(path)
    previous = path.read_bytes()
    partial_sizes = []

    def crash(*args: Any) -> bytes:
        partial_sizes.extend(p.stat().st_size for p in tmp_path.glob(".model.highnn.highnn-tmp-*"))
        raise RuntimeError("simulated crash while serialising the weights")

    monkeypatch.setattr(saving, "encode_tensors", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        trained.save(path)
    assert len(partial_sizes) == 1 and partial_sizes[0] > 0  # config.json was already in the temporary file
    assert path.read_bytes() == previous
    assert os.listdir(tmp_path) == ["model.highnn"]
    monkeypatch.undo()
    assert_same_values(hn.models.load_model(path).weights, trained.weights)


@pytest.mark.parametrize("action", ["save", "save_weights"])
def test_a_crash_before_the_rename_leaves_the_previous_file(
    trained: hn.Sequential, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, action: str
) -> None:
    path = tmp_path / ("model.highnn" if action == "save" else "model.weights.safetensors")
    path.write_bytes(b"previous")

    def crash(descriptor: int) -> None:
        raise OSError("simulated power cut before the data reached the disk")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="simulated power cut"):
        getattr(trained, action)(path)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == [path.name]


# --------------------------------------------------------------- cross-backend
@pytest.mark.parametrize(("source", "target"), list(itertools.product(BACKENDS, BACKENDS)))
def test_a_file_saved_on_one_backend_loads_on_another(
    source: str, target: str, data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    require_backend(source)
    require_backend(target)
    x, y = data
    with hn.config.use_backend(source, floatx="float64"):
        model = make_model()
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        expected = model.predict(x, verbose=0)
        weights = model.get_weights()
        optimizer_state = [v.numpy() for v in model.optimizer.variables]
        model.save(tmp_path / "model.highnn")
    with hn.config.use_backend(target, floatx="float64"):
        loaded = hn.models.load_model(tmp_path / "model.highnn")
        for restored, saved in zip(loaded.get_weights(), weights, strict=True):
            np.testing.assert_array_equal(restored, saved)
        for restored, saved in zip([v.numpy() for v in loaded.optimizer.variables], optimizer_state, strict=True):
            np.testing.assert_array_equal(restored, saved)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-12, atol=1e-12)
        loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # trains on with the restored state
        assert int(loaded.optimizer.iterations.numpy()) == 4


KILLED_WRITER = """
import sys, time
from highnn.saving.archive import atomic_write

def write(stream):
    stream.write(b"half a model")
    stream.flush()
    print("writing", flush=True)
    time.sleep(60)

atomic_write(sys.argv[1], write)
"""


@pytest.mark.skipif(os.name != "posix", reason="kill -9 and pid checks are POSIX")
def test_a_save_killed_mid_write_leaves_a_recognisable_temporary_that_the_next_save_removes(
    trained: hn.Sequential, tmp_path: Path
) -> None:
    path = tmp_path / "model.highnn"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    (stale,) = tmp_path.glob(f".model.highnn.highnn-tmp-{writer.pid}-*")
    assert not path.exists()
    other = tmp_path / ".other.highnn.highnn-tmp-1-0123456789abcdef"  # another target's: left alone
    other.write_bytes(b"")
    trained.save(path)
    assert sorted(os.listdir(tmp_path)) == [other.name, "model.highnn"] and not stale.exists()
    assert_same_values(hn.models.load_model(path).weights, trained.weights)
