"""The TensorBoard callback: training curves, weight histograms and the model graph as TensorBoard event files.

Keras 3's layout and tag names, so a Keras user's dashboards work unchanged::

    log_dir/train/        epoch_loss, epoch_<metric>, epoch_learning_rate, batch_<metric>, <weight>/histogram, keras
    log_dir/validation/   epoch_loss, epoch_<metric>, evaluation_<name>_vs_iterations

Events are written with the ``tensorboard`` package's event-file writer (an
optional extra: ``pip install "highnn[tensorboard]"``), imported when the
callback is created; ``tensorboard --logdir log_dir`` shows them.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any, NamedTuple

import numpy as np

from highnn.callbacks.base import Callback, Logs
from highnn.callbacks.monitoring import read_learning_rate
from highnn.checks import check_bool, check_integer, fail, is_integer

OWNER = "TensorBoard"


class _TensorBoardAPI(NamedTuple):
    """The pieces of the ``tensorboard`` package the writer uses (none of them needs TensorFlow)."""

    EventFileWriter: Any
    Event: Any
    Summary: Any
    scalar_pb: Any
    histogram_pb: Any
    make_tensor_proto: Any
    image_metadata: Any
    Image: Any


def _import_tensorboard() -> _TensorBoardAPI:
    """The ``tensorboard`` package's writer and summary builders, or a one-line ImportError naming the extra."""
    try:
        from PIL import Image
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb
        from tensorboard.plugins.image import metadata as image_metadata
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util.tensor_util import make_tensor_proto
    except ImportError as error:
        raise ImportError(
            f'TensorBoard needs the tensorboard package: pip install "highnn[tensorboard]" ({error})'
        ) from None
    return _TensorBoardAPI(EventFileWriter, Event, Summary, scalar_pb, histogram_pb, make_tensor_proto,
                           image_metadata, Image)  # fmt: skip


class _RunWriter:
    """One TensorBoard run (a sub-directory of ``log_dir``): scalars, histograms, images and the model graph."""

    def __init__(self, api: _TensorBoardAPI, directory: str) -> None:
        self.api = api
        self.events = api.EventFileWriter(directory)

    def _write(self, summary: Any, step: int) -> None:
        self.events.add_event(self.api.Event(wall_time=time.time(), step=int(step), summary=summary))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._write(self.api.scalar_pb(tag, np.asarray(value, dtype=np.float64)), step)

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        self._write(self.api.histogram_pb(tag, values), step)

    def image(self, tag: str, pixels: np.ndarray, step: int) -> None:
        """A grey-scale image of a 2-D uint8 array, PNG-encoded (the images plugin's format: width, height, PNG)."""
        png = io.BytesIO()
        self.api.Image.fromarray(pixels, mode="L").save(png, format="PNG")
        height, width = pixels.shape
        tensor = self.api.make_tensor_proto([str(width).encode(), str(height).encode(), png.getvalue()])
        summary = self.api.Summary()
        summary.value.add(tag=tag, tensor=tensor, metadata=self.api.image_metadata.create_summary_metadata("", ""))
        self._write(summary, step)

    def model_graph(self, model_json: str) -> None:
        """The model's configuration, tagged ``keras``: TensorBoard's Graphs tab draws it as a conceptual graph."""
        summary = self.api.Summary()
        value = summary.value.add(tag="keras", tensor=self.api.make_tensor_proto(model_json))
        value.metadata.plugin_data.plugin_name = "graph_keras_model"
        value.metadata.plugin_data.content = b"1"
        self._write(summary, 0)

    def flush(self) -> None:
        self.events.flush()

    def close(self) -> None:
        self.events.close()


class TensorBoard(Callback):
    """Write training curves and weight histograms for TensorBoard (Keras 3's arguments, defaults and layout).

    >>> board = hn.callbacks.TensorBoard(log_dir="logs/run1", histogram_freq=1)
    >>> model.fit(x, y, epochs=10, validation_split=0.2, callbacks=[board])
    >>> # then, in a shell: tensorboard --logdir logs

    Every epoch writes ``epoch_<name>`` scalars at step ``epoch``: training logs
    and ``epoch_learning_rate`` to ``log_dir/train``, ``val_`` logs (without the
    prefix) to ``log_dir/validation``; each validation or ``evaluate`` pass also
    writes ``evaluation_<name>_vs_iterations`` at the optimizer's step count.

    Args:
        log_dir: the directory of the ``train`` and ``validation`` runs.
        histogram_freq: write a histogram of every weight every this many epochs
            (``<weight path>/histogram``); 0 writes none.
        write_graph: write the layer graph of a Sequential model (TensorBoard's
            Graphs tab, "conceptual graph"). highnn has no TensorFlow op graph.
        write_images: with ``histogram_freq``, also write every weight as a
            grey-scale image (``<weight path>/image``), scaled to its own range.
        write_steps_per_second: also write ``epoch_steps_per_second`` (and
            ``batch_steps_per_second`` with a batch ``update_freq``).
        update_freq: ``"epoch"``, or an integer N (``"batch"`` is 1): also write
            ``batch_<name>`` scalars, the running averages of the epoch so far,
            every N training batches, at the count of batches of this ``fit``.
        profile_batch, embeddings_freq, embeddings_metadata: accepted at their
            defaults (0, 0, None) only; highnn has no profiler or embedding projector.
    """

    chief_only = True

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not isinstance(os.fspath(log_dir), str):
            fail(OWNER, "log_dir", "a directory path (str or os.PathLike)", log_dir, TypeError)
        check_integer(OWNER, "histogram_freq", histogram_freq, 0)
        for argument, flag in (("write_graph", write_graph), ("write_images", write_images),
                               ("write_steps_per_second", write_steps_per_second)):  # fmt: skip
            check_bool(OWNER, argument, flag)
        _check_update_freq(update_freq)
        _check_unsupported("profile_batch", profile_batch, 0, "profiler")
        _check_unsupported("embeddings_freq", embeddings_freq, 0, "embedding projector")
        _check_unsupported("embeddings_metadata", embeddings_metadata, None, "embedding projector")
        self._api = _import_tensorboard()
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq: str | int = 1 if update_freq == "batch" else update_freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict[str, _RunWriter] = {}
        self._training = False
        self._global_train_batch = 0
        self._epoch_first_batch = 0
        self._clock = (0, 0.0)  # (batches, time) when the last rate was measured
        self._epoch_start = (0, 0.0)  # (optimizer iterations, time) at the start of the epoch

    # ------------------------------------------------------------ writers
    def _writer(self, run: str) -> _RunWriter:
        """The run's writer, created on first use so that a run without data leaves no event file."""
        if run not in self._writers:
            self._writers[run] = _RunWriter(self._api, os.path.join(self.log_dir, run))
        return self._writers[run]

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # -------------------------------------------------------------- hooks
    def wants(self, hook: str) -> bool:
        """Batch logs are only asked for when batch scalars are written."""
        if hook.endswith(("_batch_begin", "_batch_end")):
            return hook == "on_train_batch_end" and self.update_freq != "epoch"
        return super().wants(hook)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._training = True
        self._global_train_batch = 0
        if self.write_graph:
            self._write_model_graph()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._training = False
        self._close_writers()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch_first_batch = self._global_train_batch
        now = time.perf_counter()
        self._clock = (self._global_train_batch, now)
        self._epoch_start = (self._iterations(), now)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        frequency = self.update_freq
        if not isinstance(frequency, int):  # "epoch"
            return
        previous, self._global_train_batch = self._global_train_batch, self._epoch_first_batch + batch + 1
        step = self._global_train_batch
        if previous // frequency == step // frequency:  # no multiple of update_freq reached since the last call
            return
        writer = self._writer("train")
        if self.write_steps_per_second:
            batches, start = self._clock
            now = time.perf_counter()
            writer.scalar("batch_steps_per_second", (step - batches) / max(now - start, 1e-9), step)
            self._clock = (step, now)
        for name, value in (logs or {}).items():
            if np.ndim(value) == 0:
                writer.scalar(f"batch_{name}", value, step)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        train = {name: value for name, value in logs.items() if not name.startswith("val_")}
        validation = {name.removeprefix("val_"): value for name, value in logs.items() if name.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(read_learning_rate(optimizer))
        if self.write_steps_per_second:
            iterations, start = self._epoch_start
            train["steps_per_second"] = (self._iterations() - iterations) / max(time.perf_counter() - start, 1e-9)
        for run, values in (("train", train), ("validation", validation)):
            for name, value in values.items():
                if np.ndim(value) == 0:  # per-class results (arrays) have no scalar curve
                    self._writer(run).scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs: Logs | None = None) -> None:
        step = self._iterations()
        for name, value in (logs or {}).items():
            if np.ndim(value) == 0:
                self._writer("validation").scalar(f"evaluation_{name}_vs_iterations", value, step)
        if self._training:
            self._writer("validation").flush()
        else:  # evaluate(): no on_train_end will close the files
            self._close_writers()

    # ------------------------------------------------------------ helpers
    def _iterations(self) -> int:
        """The optimizer's step count (0 before the model is compiled)."""
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        return int(np.asarray(iterations)) if iterations is not None else 0

    def _write_model_graph(self) -> None:
        """The model's configuration, when it is a stack of layers TensorBoard can draw (as Keras, Sequential)."""
        config = self.model.get_config()
        if "layers" in config:
            self._writer("train").model_graph(json.dumps({"class_name": type(self.model).__name__, "config": config}))

    def _write_weights(self, epoch: int) -> None:
        """A histogram (and with ``write_images`` an image) of every weight, tagged by its path."""
        writer = self._writer("train")
        for weight in self.model.weights:
            values = np.asarray(weight.numpy())
            tag = weight.path.replace(":", "_")
            writer.histogram(f"{tag}/histogram", values, epoch)
            if self.write_images and values.size:
                writer.image(f"{tag}/image", _weight_image(values), epoch)


def _check_update_freq(value: Any) -> None:
    """``"epoch"``, ``"batch"`` or an integer >= 1."""
    expected = "'epoch', 'batch' or an integer >= 1"
    if isinstance(value, str):
        if value not in ("epoch", "batch"):
            fail(OWNER, "update_freq", expected, value)
    elif not is_integer(value):
        fail(OWNER, "update_freq", expected, value, TypeError)
    elif value < 1:
        fail(OWNER, "update_freq", expected, value)


def _check_unsupported(argument: str, value: Any, default: int | None, missing: str) -> None:
    """Keras arguments highnn accepts at their defaults only: anything else is an error, not silently ignored."""
    if not (value is None if default is None else is_integer(value) and value == default):
        fail(OWNER, argument, f"{default} (highnn has no {missing})", value)


def _weight_image(values: np.ndarray) -> np.ndarray:
    """A weight as a 2-D uint8 image, wider than tall: a vector is one row, a kernel ``(in, out)``
    is ``out`` rows, higher ranks are flattened to ``(..., last axis)`` first; scaled from its min to its max."""
    pixels = np.atleast_2d(values.reshape(-1, values.shape[-1]) if values.ndim > 2 else values).astype(np.float64)
    if pixels.shape[0] > pixels.shape[1]:
        pixels = pixels.T
    low, high = pixels.min(), pixels.max()
    scaled = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
    return np.round(scaled * 255).astype(np.uint8)
