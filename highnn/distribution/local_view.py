"""torch ``DataParallel``: one process per device, each on its share of every global batch.

highnn computes its own gradients, so torch's DDP (which learns of gradients
through autograd hooks) has nothing to hook into; instead the traced train step
holds an explicit ``all_reduce`` primitive per gradient, in the convention of
``tf.distribute``: each process weights its data loss and activity penalties by
its rows over the global batch's rows and the weight penalties by 1 / world, so
the sum over the processes is the gradient of one process on the whole batch,
for any split (an uneven last batch included).

The rest keeps the processes identical to each other and to one process: all
take their rows from process 0's permutation, metric states (sums over
examples) are summed over the processes when read, ``stop_training`` is OR-ed
at each epoch's end, ``predict`` gathers every process's rows, random layers
draw the global batch's noise (``highnn.batch_share``), BatchNorm's moving
statistics are averaged (row-weighted) at each epoch's end, and only process 0
prints and writes files.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from highnn import random
from highnn.batch_share import Share, current_share, share_of
from highnn.callbacks.base import Callback
from highnn.config import settings
from highnn.data import Batches
from highnn.distribution import distribution
from highnn.graph import Tensor, grad
from highnn.layers.layer import Layer
from highnn.layers.normalization import BatchNormalization
from highnn.metrics.base import Metric
from highnn.ops.primitives import all_reduce
from highnn.utils.packing import unpack_x_y_sample_weight

if TYPE_CHECKING:
    from highnn.trainer import Trainer

Step = Callable[..., list[Tensor]]


class Collectives(Protocol):
    """The torch backend's collectives (``backends/torch_backend.py``), which the local view calls."""

    def process_index(self) -> int: ...
    def process_count(self) -> int: ...
    def all_reduce(self, x: Any, /) -> Any: ...
    def all_gather(self, x: Any, /, counts: tuple[int, ...]) -> Any: ...
    def broadcast(self, x: Any, /) -> Any: ...
    def barrier(self) -> None: ...


#: loss reductions that weighting makes exact: a sum needs no weight, a mean over the batch its rows' fraction
EXACT_REDUCTIONS = ("sum", "sum_over_batch_size")


class LocalBatch(list[Any]):
    """One process's arrays of a global batch, and the share of it they are."""

    def __init__(self, arrays: Iterator[Any], share: Share) -> None:
        super().__init__(arrays)
        self.share = share


class LocalBatches(Batches):
    """The global batches of :class:`Batches`, each cut to this process's ``np.array_split`` share.

    ``rows`` counts the rows handed out since it was last reset (for BatchNorm's averaging).
    """

    def __init__(self, view: LocalView, arrays: dict[str, np.ndarray], batch_size: int, shuffle: bool) -> None:
        super().__init__(arrays, batch_size, shuffle=shuffle, names=tuple(arrays))
        self.view = view
        self.rows = 0

    def __iter__(self) -> Iterator[list[Any]]:
        backend = settings.backend
        order = self.view.broadcast(random.generator().permutation(self.size)) if self.shuffle else None
        for start in range(0, self.size, self.batch_size):
            share = share_of(min(self.batch_size, self.size - start), self.view.rank, self.view.world)
            first, stop = start + share.offset, start + share.offset + share.rows
            index = slice(first, stop) if order is None else order[first:stop]
            self.rows += share.rows
            yield LocalBatch((backend.batch(a[index], dtype) for a, dtype in zip(self.arrays, self.dtypes)), share)


class LocalView:
    """The data-parallel job as one process sees it: its ``rank`` among ``world`` processes."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    @property
    def chief(self) -> bool:
        """Whether this process prints and writes files (process 0)."""
        return self.rank == 0

    def batches(self, arrays: dict[str, np.ndarray], batch_size: int, shuffle: bool = False) -> LocalBatches:
        return LocalBatches(self, arrays, batch_size, shuffle)

    # ----------------------------------------------------- collectives on host arrays
    def sum(self, values: np.ndarray) -> np.ndarray:
        """The sum over the processes of a host array."""
        return _on_host(_collectives().all_reduce, values)

    def broadcast(self, values: np.ndarray) -> np.ndarray:
        """Process 0's host array, on every process."""
        return _on_host(_collectives().broadcast, values)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any process."""
        return bool(self.sum(np.asarray([float(flag)]))[0])

    def barrier(self) -> None:
        _collectives().barrier()

    def callbacks(self, callbacks: list[Callback]) -> list[Callback]:
        """The callbacks this process runs: all on process 0; the others leave out those that only write logs."""
        return callbacks if self.chief else [c for c in callbacks if not c.chief_only]

    # ----------------------------------------------------- before the first step
    def start(self, model: Trainer, arrays: dict[str, np.ndarray], owner: str) -> None:
        """Check that the loss reduces exactly and that every process passed the same data, then give every
        process the variables of process 0 (a model built without a seed differs between processes)."""
        reduction = getattr(getattr(model, "loss", None), "reduction", "sum_over_batch_size")
        if owner != "predict" and reduction not in EXACT_REDUCTIONS:
            raise ValueError(
                f"{owner}: under torch DataParallel the loss's `reduction` must be one of {EXACT_REDUCTIONS}, "
                f"received {reduction!r}; reduce over the processes in a custom train_step instead."
            )
        fingerprint = np.asarray([_fingerprint(array) for array in arrays.values()], np.float64)
        if self.any(not np.array_equal(self.broadcast(fingerprint), fingerprint)):
            raise ValueError(
                f"{owner}: every process of a DataParallel job must pass the same arrays (the global data), "
                "but the processes' arrays differ."
            )
        optimizer = getattr(model, "optimizer", None)
        for variable in [*model.variables, *(optimizer.variables if optimizer is not None and optimizer.built else [])]:
            variable.value = _collectives().broadcast(variable.value)

    # ----------------------------------------------------- metrics, predictions, BatchNorm
    @contextmanager
    def summed(self, metrics: Sequence[Metric]) -> Iterator[None]:
        """In this block the metrics' states hold their sums over the processes (states are sums over examples)."""
        variables = [v for metric in metrics for v in metric.variables]
        originals = [v.value for v in variables]
        try:
            for variable in variables:
                variable.value = _collectives().all_reduce(variable.value)
            yield
        finally:
            for variable, value in zip(variables, originals):
                variable.value = value

    def gather(self, outputs: list[Any], shares: Sequence[Share]) -> list[Any]:
        """Every process's rows of the outputs of the batches of ``shares``, in order (the outputs of each batch
        follow each other; a replicated batch is whole already)."""
        per_batch = len(outputs) // len(shares)
        return [
            output if share.replicated else _collectives().all_gather(output, counts=share.counts)
            for output, share in zip(outputs, (share for share in shares for _ in range(per_batch)))
        ]

    def average_moving_statistics(self, model: Layer, batches: Batches) -> None:
        """BatchNorm's statistics are each process's own, so its moving averages drift apart: they are averaged,
        weighted by the rows each process took from ``batches`` since the last time, so the processes stay
        identical."""
        assert isinstance(batches, LocalBatches), "the local view makes the batches"
        fraction = batches.rows / float(self.sum(np.asarray([float(batches.rows)]))[0])
        batches.rows = 0
        backend = settings.backend
        for layer in _layers(model):
            if isinstance(layer, BatchNormalization) and not layer.synchronized:
                for moving in (layer.moving_mean, layer.moving_variance):
                    weighted = backend.mul(moving.value, backend.asarray(fraction, moving.dtype))
                    moving.value = _collectives().all_reduce(weighted)


def active() -> LocalView | None:
    """The local view when a distribution is set on a backend of one process per device (torch's), else None."""
    if not settings.backend.local_view or distribution() is None:
        return None
    return LocalView(_collectives().process_index(), _collectives().process_count())


def on_chief(write: Callable[[], Any]) -> None:
    """Under torch DataParallel run ``write`` on process 0 alone, and let every process wait for it (every
    process calls this, as every process calls ``model.save``); otherwise just run it."""
    view = active()
    if view is None or view.chief:
        write()
    if view is not None:
        view.barrier()


def _collectives() -> Collectives:
    """The active backend's collectives (``active`` is None on any backend but torch's)."""
    return cast(Collectives, settings.backend)


def _on_host(collective: Callable[[Any], Any], values: np.ndarray) -> np.ndarray:
    backend = settings.backend
    return backend.to_numpy(collective(backend.asarray(values, values.dtype.name)))


# --------------------------------------------------------- the weighted steps
def train_step(model: Trainer, data: Any) -> dict[str, Tensor]:
    """Trainer's train step on this process's share: the loss weighted, the gradients summed over the processes."""
    share = _share()
    x, y, sample_weight = unpack_x_y_sample_weight(data)
    y_pred = model(x, training=True)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)  # with every penalty, as logged
    weight_penalties = _weight_penalties(model)
    weighted = (loss - weight_penalties) * share.weight + weight_penalties * (1.0 / share.world)
    if _counts(share):
        model._update_metrics(loss, x, y, y_pred, sample_weight)
    weights = model.trainable_weights
    model.optimizer.apply([all_reduce(g) for g in grad(model.optimizer.scale_loss(weighted), weights)], weights)
    return model._metrics_results()  # this process's; the trainer reads the sums over the processes


def test_step(model: Trainer, data: Any) -> dict[str, Tensor]:
    """Trainer's test step on this process's share."""
    return model.test_step(data) if _counts(_share()) else model._metrics_results()


#: Trainer's steps as each process runs them on its share
STEPS: dict[str, Callable[..., dict[str, Tensor]]] = {"train": train_step, "test": test_step}


def _share() -> Share:
    share = current_share()
    assert share is not None, "the local steps run on a share"
    return share


def _counts(share: Share) -> bool:
    """Whether this process's metrics count the share (a replicated batch is counted by process 0 alone)."""
    return share.rank == 0 or not share.replicated


def _layers(layer: Layer) -> Iterator[Layer]:
    yield layer
    for sub in layer._layers:
        yield from _layers(sub)


def _weight_penalties(model: Layer) -> Tensor | float:
    """The sum of the weight regularisation penalties (those that do not scale with the batch)."""
    total: Tensor | float = 0.0
    for layer in _layers(model):
        for weight, penalty in layer._regularized:
            total = total + penalty(weight)
    return total


def _fingerprint(array: np.ndarray) -> float:
    """A checksum of the shape and up to 1,000 evenly spaced rows of ``array``."""
    rows = np.ascontiguousarray(array[:: max(1, len(array) // 1000)])
    return float(zlib.crc32(rows.tobytes(), zlib.crc32(str(array.shape).encode())))
