"""Training curves: :func:`plot_history` draws what ``fit`` logged (matplotlib, an optional extra)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn.checks import check_number, fail

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from highnn.callbacks.base import History

OWNER = "plot_history"


def plot_history(
    history: History | Mapping[str, Sequence[float]],
    metrics: str | Sequence[str] | None = None,
    to_file: str | os.PathLike[str] | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """Draw each logged quantity against the epoch, with its ``val_`` counterpart on the same axis.

    >>> history = model.fit(x, y, epochs=20, validation_split=0.2, verbose=0)
    >>> figure = hn.utils.plot_history(history, to_file="training.png")

    Args:
        history: the :class:`~highnn.callbacks.History` that ``fit`` returns, or its
            ``history`` dict (``{"loss": [...], "val_loss": [...]}``).
        metrics: the names to draw, one subplot each (``"loss"``, ``["loss", "accuracy"]``);
            by default every logged name that does not start with ``val_``.
        to_file: also save the figure there (the format follows the suffix: ``.png``, ``.pdf``, ``.svg``).
        figsize: ``(width, height)`` in inches; by default 6.4 wide and 2.8 high per subplot.
        dpi: dots per inch of the saved file.

    Returns:
        The matplotlib ``Figure`` (shown with ``matplotlib.pyplot.show()``).
    """
    logs = _check_logs(history)
    names = _check_metrics(metrics, logs)
    if to_file is not None and (not isinstance(to_file, (str, os.PathLike)) or not isinstance(os.fspath(to_file), str)):
        fail(OWNER, "to_file", "None or a file path (str or os.PathLike)", to_file, TypeError)
    if figsize is not None:
        if not isinstance(figsize, (tuple, list)) or len(figsize) != 2:
            fail(OWNER, "figsize", "None or a pair (width, height) of inches", figsize, TypeError)
        figsize = (check_number(OWNER, "figsize", figsize[0], 0, low_open=True),
                   check_number(OWNER, "figsize", figsize[1], 0, low_open=True))  # fmt: skip
    dpi = check_number(OWNER, "dpi", dpi, 0, low_open=True)
    pyplot = _import_pyplot()

    figure, axes = pyplot.subplots(
        len(names), 1, sharex=True, squeeze=False, figsize=figsize or (6.4, 2.8 * len(names)), layout="constrained"
    )
    for axis, name in zip(axes[:, 0], names):
        for key in (name, f"val_{name}"):
            if key in logs:
                values = logs[key]
                marker = "o" if len(values) == 1 else ""  # a lone point is no line
                axis.plot(np.arange(1, len(values) + 1), values, marker=marker, label=key)
        axis.set_title(name)
        axis.legend()
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 0].xaxis.set_major_locator(pyplot.MaxNLocator(integer=True))
    if to_file is not None:
        figure.savefig(to_file, dpi=dpi)
    return figure


def _check_logs(history: Any) -> dict[str, np.ndarray]:
    """The logged series as float arrays (one row per epoch), from a History or its dict."""
    logs = getattr(history, "history", history)
    expected = 'a History or its dict of logged series ({"loss": [...], ...})'
    if not isinstance(logs, Mapping):
        fail(OWNER, "history", expected, history, TypeError)
    if not logs:
        fail(OWNER, "history", f"{expected} with at least one series (did fit run?)", history)
    arrays = {}
    series = "a non-empty list of numbers, one per epoch"
    for key, values in logs.items():
        array = None if isinstance(values, (str, bytes)) else np.asarray(values)
        if array is None or array.dtype.kind not in "iuf" or array.ndim not in (1, 2):
            fail(OWNER, f"history[{key!r}]", series, values, TypeError)
        if not len(array):
            fail(OWNER, f"history[{key!r}]", series, values)
        arrays[key] = array.astype(np.float64)
    return arrays


def _check_metrics(metrics: Any, logs: Mapping[str, Any]) -> list[str]:
    """The names to draw: ``metrics`` checked against the logs, or every logged name without its ``val_``."""
    if metrics is None:
        return list(dict.fromkeys(key.removeprefix("val_") for key in logs))
    names = [metrics] if isinstance(metrics, str) else metrics
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(name, str) for name in names):
        fail(OWNER, "metrics", "None, a logged name or a non-empty list of them", metrics, TypeError)
    for name in names:
        if name not in logs and f"val_{name}" not in logs:
            fail(OWNER, "metrics", f"names logged in the history ({', '.join(logs)})", name)
    return list(names)


def _import_pyplot() -> Any:
    """``matplotlib.pyplot``, or a one-line ImportError naming the extra."""
    try:
        from matplotlib import pyplot
    except ImportError as error:
        raise ImportError(f'plot_history needs matplotlib: pip install "highnn[plotting]" ({error})') from None
    return pyplot
