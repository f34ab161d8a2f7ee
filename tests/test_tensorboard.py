"""The TensorBoard callback: event files read back with tensorboard's own reader equal what ``fit`` logged.

Layout and tags follow Keras 3 (train/ and validation/ runs, ``epoch_<name>`` per epoch, ``batch_<name>``
every ``update_freq`` batches, ``epoch_learning_rate``, ``<weight>/histogram`` every ``histogram_freq`` epochs).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn.callbacks.tensorboard import TensorBoard


def require_tensorboard() -> None:
    """Skip (locally) or fail (in CI) when the optional ``tensorboard`` package is missing."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail('tensorboard not installed; CI must install the dev extra (pip install -e ".[dev]")')
        pytest.skip("tensorboard not installed")


@pytest.fixture(autouse=True)
def _tensorboard() -> None:
    require_tensorboard()


def read_run(directory: Path) -> dict[str, dict[int, Any]]:
    """``{tag: {step: value}}`` of every summary in a run, read with tensorboard's EventAccumulator."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: {event.step: make_ndarray(event.tensor_proto) for event in accumulator.Tensors(tag)}
        for tag in accumulator.Tags()["tensors"]
    }


def plugin(directory: Path, tag: str) -> str:
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(directory))
    accumulator.Reload()
    return str(accumulator.SummaryMetadata(tag).plugin_data.plugin_name)


def make_model(optimizer: Any = None) -> hn.Sequential:
    hn.utils.set_random_seed(0)
    model = hn.Sequential(
        [hn.Input(shape=(3,)), hn.layers.Dense(4, activation="relu", name="hidden"), hn.layers.Dense(1, name="out")],
        name="net",
    )
    model.compile(optimizer or hn.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3


def as_float32(values: list[float]) -> list[np.float32]:
    """Event files store scalars as float32."""
    return [np.float32(v) for v in values]


# ------------------------------------------------------------------ layout and values
@pytest.mark.usefixtures("float64")
def test_epoch_scalars_equal_the_history(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    history = make_model().fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0,
                               callbacks=[TensorBoard(tmp_path)])  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train", "validation"]
    train, validation = read_run(tmp_path / "train"), read_run(tmp_path / "validation")
    for name in ("loss", "mae"):
        assert [train[f"epoch_{name}"][e] for e in range(3)] == as_float32(history.history[name])
        assert [validation[f"epoch_{name}"][e] for e in range(3)] == as_float32(history.history[f"val_{name}"])
    assert [train["epoch_learning_rate"][e] for e in range(3)] == as_float32([0.05] * 3)
    assert not any(tag.startswith("batch_") or tag.startswith("epoch_val") for tag in train | validation)
    assert plugin(tmp_path / "train", "epoch_loss") == "scalars"


@pytest.mark.usefixtures("float64")
def test_every_validation_pass_is_also_logged_against_the_optimizer_steps(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = data
    history = make_model().fit(x, y, epochs=2, batch_size=10, validation_split=0.25, verbose=0,
                               callbacks=[TensorBoard(tmp_path)])  # fmt: skip
    # 30 training rows in batches of 10: 3 optimizer steps per epoch.
    logged = read_run(tmp_path / "validation")["evaluation_loss_vs_iterations"]
    assert logged == {3: np.float32(history.history["val_loss"][0]), 6: np.float32(history.history["val_loss"][1])}


@pytest.mark.usefixtures("float64")
def test_no_validation_run_without_validation_data(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    make_model().fit(*data, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path)])
    assert [p.name for p in tmp_path.iterdir()] == ["train"]


@pytest.mark.usefixtures("float64")
def test_batch_scalars_every_update_freq_batches(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    seen: list[tuple[int, float]] = []  # (batch of this fit counted from 1, running loss), as the batch hook gets it
    record = hn.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append((len(seen) + 1, logs["loss"]))
    )
    make_model().fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[TensorBoard(tmp_path, update_freq=2), record])
    # 40 rows in batches of 8: 5 batches an epoch, 10 in all; written after batches 2, 4, 6, 8 and 10.
    train = read_run(tmp_path / "train")
    assert train["batch_loss"] == {step: np.float32(loss) for step, loss in seen if step % 2 == 0}
    assert sorted(train["batch_mae"]) == [2, 4, 6, 8, 10]
    assert sorted(train["epoch_loss"]) == [0, 1]


@pytest.mark.usefixtures("float64")
def test_update_freq_batch_writes_every_batch_and_steps_per_second(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    board = TensorBoard(tmp_path, update_freq="batch", write_steps_per_second=True)
    assert board.update_freq == 1
    make_model().fit(*data, epochs=1, batch_size=20, verbose=0, callbacks=[board])
    train = read_run(tmp_path / "train")
    assert sorted(train["batch_loss"]) == sorted(train["batch_steps_per_second"]) == [1, 2]
    assert list(train["epoch_steps_per_second"]) == [0] and train["epoch_steps_per_second"][0] > 0


def test_batch_logs_are_only_asked_for_when_written(tmp_path: Path) -> None:
    assert not TensorBoard(tmp_path).wants("on_train_batch_end")
    assert TensorBoard(tmp_path, update_freq=3).wants("on_train_batch_end")
    assert not TensorBoard(tmp_path, update_freq=3).wants("on_test_batch_end")


@pytest.mark.usefixtures("float64")
def test_learning_rate_follows_callbacks_and_schedules(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    halve = hn.callbacks.LearningRateScheduler(lambda epoch, lr: 0.4 / 2**epoch)
    make_model().fit(*data, epochs=3, verbose=0, callbacks=[halve, TensorBoard(tmp_path / "a")])
    assert read_run(tmp_path / "a" / "train")["epoch_learning_rate"] == as_float32_dict([0.4, 0.2, 0.1])

    # A schedule decays per optimizer step: 40 rows in batches of 20 make 2 steps an epoch.
    schedule = hn.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = make_model(hn.optimizers.SGD(schedule))
    model.fit(*data, epochs=2, batch_size=20, verbose=0, callbacks=[TensorBoard(tmp_path / "b")])
    assert read_run(tmp_path / "b" / "train")["epoch_learning_rate"] == as_float32_dict([0.1 / 4, 0.1 / 16])


def as_float32_dict(values: list[float]) -> dict[int, np.float32]:
    return dict(enumerate(as_float32(values)))


@pytest.mark.usefixtures("float64")
def test_weight_histograms_every_histogram_freq_epochs(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    model = make_model()
    weights: list[list[np.ndarray]] = []
    keep = hn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    model.fit(*data, epochs=3, verbose=0, callbacks=[keep, TensorBoard(tmp_path, histogram_freq=2)])
    train = read_run(tmp_path / "train")
    tags = ["hidden/kernel/histogram", "hidden/bias/histogram", "out/kernel/histogram", "out/bias/histogram"]
    assert sorted(tag for tag in train if tag.endswith("/histogram")) == sorted(tags)  # weights named by their path
    assert all(sorted(train[tag]) == [0, 2] for tag in tags)
    assert plugin(tmp_path / "train", tags[0]) == "histograms"
    for epoch in (0, 2):
        for tag, weight in zip(tags, weights[epoch]):
            buckets = train[tag][epoch]  # rows of [left edge, right edge, count]
            assert buckets[:, 2].sum() == weight.size
            assert buckets[0, 0] == weight.min() and buckets[-1, 1] == weight.max()
    assert not any(tag.endswith("/image") for tag in train)


@pytest.mark.usefixtures("float64")
def test_weight_images(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    from PIL import Image

    model = make_model()
    model.fit(*data, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path, histogram_freq=1, write_images=True)])
    train = read_run(tmp_path / "train")
    assert plugin(tmp_path / "train", "hidden/kernel/image") == "images"
    width, height, png = train["hidden/kernel/image"][0]
    kernel = model.layers[0].kernel.numpy()  # (3 inputs, 4 units): drawn wider than tall, so 3 rows of 4
    assert (int(width), int(height)) == (4, 3)
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    scaled = (kernel - kernel.min()) / (kernel.max() - kernel.min()) * 255
    np.testing.assert_array_equal(pixels, np.round(scaled).astype(np.uint8))
    width, height, _ = train["hidden/bias/image"][0]
    assert (int(width), int(height)) == (4, 1)


@pytest.mark.usefixtures("float64")
def test_write_graph_writes_the_layer_graph(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    from tensorboard.plugins.graph.keras_util import keras_model_to_graph_def

    model = make_model()
    model.fit(*data, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path / "on")])
    written = read_run(tmp_path / "on" / "train")["keras"][0]
    assert plugin(tmp_path / "on" / "train", "keras") == "graph_keras_model"
    graph = keras_model_to_graph_def(json.loads(written.item()))
    assert [node.name for node in graph.node] == [f"net/{name}" for name in (model.input_layer.name, "hidden", "out")]

    model.fit(*data, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path / "off", write_graph=False)])
    assert "keras" not in read_run(tmp_path / "off" / "train")


@pytest.mark.usefixtures("float64")
def test_evaluate_writes_and_closes_its_run(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    model = make_model()
    loss = model.evaluate(*data, verbose=0, callbacks=[TensorBoard(tmp_path)])
    assert read_run(tmp_path / "validation")["evaluation_loss_vs_iterations"] == {0: np.float32(loss[0])}


@pytest.mark.usefixtures("float64")
def test_a_second_fit_adds_a_new_event_file(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    board, model = TensorBoard(tmp_path, write_graph=False), make_model()
    first = model.fit(*data, epochs=1, verbose=0, callbacks=[board]).history["loss"]
    second = model.fit(*data, epochs=1, verbose=0, callbacks=[board]).history["loss"]
    assert len(list((tmp_path / "train").iterdir())) == 2
    # Both files hold step 0; tensorboard keeps the later one (the files are read in name order).
    assert read_run(tmp_path / "train")["epoch_loss"] == {0: np.float32(second[0])} != {0: np.float32(first[0])}


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_every_backend_writes_the_same_curves(
    backend: str, tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, floatx="float64"):
        history = make_model().fit(*data, epochs=2, verbose=0, callbacks=[TensorBoard(tmp_path, histogram_freq=1)])
    train = read_run(tmp_path / "train")
    assert train["epoch_loss"] == as_float32_dict(history.history["loss"])
    assert sorted(train["hidden/kernel/histogram"]) == [0, 1]


# ------------------------------------------------------------------ arguments
@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"log_dir": 3}, TypeError, "`log_dir` must be a directory path (str or os.PathLike), received 3 of type int"),
        ({"histogram_freq": -1}, ValueError, "`histogram_freq` must be an integer >= 0, received -1"),
        ({"histogram_freq": 1.5}, TypeError, "`histogram_freq` must be an integer >= 0, received 1.5"),
        ({"write_graph": "yes"}, TypeError, "`write_graph` must be True or False, received 'yes'"),
        ({"write_images": 1}, TypeError, "`write_images` must be True or False, received 1"),
        ({"write_steps_per_second": None}, TypeError, "`write_steps_per_second` must be True or False"),
        (
            {"update_freq": "step"},
            ValueError,
            "`update_freq` must be 'epoch', 'batch' or an integer >= 1, received 'step'",
        ),
        ({"update_freq": 0}, ValueError, "`update_freq` must be 'epoch', 'batch' or an integer >= 1, received 0"),
        ({"update_freq": 2.0}, TypeError, "`update_freq` must be 'epoch', 'batch' or an integer >= 1, received 2.0"),
        ({"profile_batch": 5}, ValueError, "`profile_batch` must be 0 (highnn has no profiler), received 5"),
        ({"profile_batch": (2, 4)}, ValueError, "`profile_batch` must be 0 (highnn has no profiler), received (2, 4)"),
        ({"embeddings_freq": 1}, ValueError, "`embeddings_freq` must be 0 (highnn has no embedding projector)"),
        ({"embeddings_metadata": "m.tsv"}, ValueError, "`embeddings_metadata` must be None (highnn has no embedding"),
    ],
)
def test_bad_arguments_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written, even to the default log_dir
    with pytest.raises(error) as raised:
        TensorBoard(**arguments)
    assert str(raised.value).startswith(f"TensorBoard: {message}")
    assert list(tmp_path.iterdir()) == []


def test_defaults_are_keras(tmp_path: Path) -> None:
    board = TensorBoard()
    assert (board.log_dir, board.histogram_freq, board.write_graph, board.write_images) == ("logs", 0, True, False)
    assert (board.write_steps_per_second, board.update_freq, board.profile_batch) == (False, "epoch", 0)
    assert (board.embeddings_freq, board.embeddings_metadata) == (0, None)
    assert TensorBoard(tmp_path).log_dir == str(tmp_path)


def test_missing_tensorboard_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.partition(".")[0] == "tensorboard"] + ["tensorboard"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import tensorboard...` now raises ImportError
    with pytest.raises(
        ImportError, match=r'^TensorBoard needs the tensorboard package: pip install "highnn\[tensorboard\]"'
    ):
        TensorBoard()
    with pytest.raises(ValueError, match="update_freq"):  # arguments are checked first
        TensorBoard(update_freq=0)


def test_the_example_writes_both_runs_and_the_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    script = Path(__file__).parent.parent / "examples" / "tensorboard_logging.py"
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HIGHNN_BACKEND": "numpy"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"TensorBoard runs written to {tmp_path}" in result.stdout
    assert (tmp_path / "history.png").read_bytes().startswith(b"\x89PNG")
    train = read_run(tmp_path / "train")
    assert sorted(train["epoch_accuracy"]) == list(range(10))
    assert any(tag.endswith("/kernel/histogram") for tag in train)
    assert sorted(read_run(tmp_path / "validation")["epoch_loss"]) == list(range(10))
