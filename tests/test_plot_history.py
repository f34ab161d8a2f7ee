"""plot_history: one subplot per logged quantity, its validation curve beside it, the data exactly the history's."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn.plotting import plot_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def agg() -> Iterator[Any]:
    """matplotlib without a display; every figure closed afterwards. Missing matplotlib fails in CI."""
    try:
        import matplotlib
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail('matplotlib not installed; CI must install the dev extra (pip install -e ".[dev]")')
        pytest.skip("matplotlib not installed")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    yield pyplot
    pyplot.close("all")


HISTORY = {
    "loss": [0.9, 0.5, 0.3],
    "accuracy": [0.6, 0.8, 0.9],
    "val_loss": [1.0, 0.7, 0.6],
    "val_accuracy": [0.5, 0.7, 0.8],
}


def lines(axis: Any) -> dict[str, tuple[list[float], list[float]]]:
    """``{label: (x, y)}`` of the lines drawn on ``axis``."""
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.get_lines()}


def test_one_subplot_per_metric_with_its_validation_curve() -> None:
    figure = plot_history(HISTORY)
    axes = figure.axes
    assert [axis.get_title() for axis in axes] == ["loss", "accuracy"]
    epochs = [1, 2, 3]
    assert lines(axes[0]) == {"loss": (epochs, HISTORY["loss"]), "val_loss": (epochs, HISTORY["val_loss"])}
    assert lines(axes[1]) == {
        "accuracy": (epochs, HISTORY["accuracy"]),
        "val_accuracy": (epochs, HISTORY["val_accuracy"]),
    }
    assert axes[-1].get_xlabel() == "epoch"
    assert [text.get_text() for text in axes[0].get_legend().get_texts()] == ["loss", "val_loss"]


def test_a_history_from_fit() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3))
    y = x @ np.array([[1.0], [-1.0], [2.0]])
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    history = model.fit(x, y, epochs=4, validation_split=0.25, verbose=0)
    figure = plot_history(history)
    assert [axis.get_title() for axis in figure.axes] == ["loss", "mae"]
    for axis, name in zip(figure.axes, ("loss", "mae")):
        drawn = lines(axis)
        assert drawn[name] == ([1, 2, 3, 4], history.history[name])
        assert drawn[f"val_{name}"] == ([1, 2, 3, 4], history.history[f"val_{name}"])


def test_chosen_metrics_in_the_order_given() -> None:
    figure = plot_history(HISTORY, metrics=["accuracy", "loss"])
    assert [axis.get_title() for axis in figure.axes] == ["accuracy", "loss"]
    assert [axis.get_title() for axis in plot_history(HISTORY, metrics="loss").axes] == ["loss"]


def test_series_without_a_counterpart_and_of_other_lengths() -> None:
    # validation every other epoch (validation_freq=2) logs fewer values; a learning rate has no val_ twin
    history = {"loss": [3.0, 2.0, 1.5, 1.2], "val_loss": [2.5, 1.4], "learning_rate": [0.1, 0.1, 0.05, 0.05]}
    axes = plot_history(history).axes
    assert lines(axes[0])["val_loss"] == ([1, 2], [2.5, 1.4])
    assert lines(axes[1]) == {"learning_rate": ([1, 2, 3, 4], history["learning_rate"])}


def test_saving_a_png(tmp_path: Path) -> None:
    path = tmp_path / "curves.png"
    figure = plot_history(HISTORY, to_file=path, figsize=(4, 5), dpi=50)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    from PIL import Image

    with Image.open(path) as image:
        image.verify()  # a complete, valid PNG
    with Image.open(path) as image:
        assert image.size == (200, 250)  # 4 x 5 inches at 50 dpi
    assert tuple(figure.get_size_inches()) == (4, 5)


def test_default_size_grows_with_the_number_of_subplots() -> None:
    assert tuple(plot_history(HISTORY).get_size_inches()) == pytest.approx((6.4, 5.6))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"history": [0.5, 0.4]}, TypeError, "`history` must be a History or its dict of logged series"),
        ({"history": {}}, ValueError, "`history` must be a History or its dict of logged series"),
        (
            {"history": {"loss": []}},
            ValueError,
            "`history['loss']` must be a non-empty list of numbers, one per epoch, received []",
        ),
        (
            {"history": {"loss": ["a"]}},
            TypeError,
            "`history['loss']` must be a non-empty list of numbers, one per epoch",
        ),
        ({"metrics": "acc"}, ValueError, "`metrics` must be names logged in the history (loss, accuracy, val_loss, "),
        ({"metrics": []}, TypeError, "`metrics` must be None, a logged name or a non-empty list of them, received []"),
        ({"metrics": [1]}, TypeError, "`metrics` must be None, a logged name or a non-empty list of them"),
        ({"to_file": 3}, TypeError, "`to_file` must be None or a file path (str or os.PathLike), received 3"),
        ({"figsize": 4}, TypeError, "`figsize` must be None or a pair (width, height) of inches, received 4"),
        ({"figsize": (4, 0)}, ValueError, "`figsize` must be a number > 0, received 0"),
        ({"dpi": -1}, ValueError, "`dpi` must be a number > 0, received -1"),
    ],
)
def test_bad_input_is_named(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    arguments = {"history": HISTORY, **arguments}
    with pytest.raises(error) as raised:
        plot_history(**arguments)
    assert str(raised.value).startswith(f"plot_history: {message}")


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.partition(".")[0] == "matplotlib"] + ["matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib...` now raises ImportError
    with pytest.raises(ImportError, match=r'^plot_history needs matplotlib: pip install "highnn\[plotting\]"'):
        plot_history(HISTORY)
