"""One seam between what users pass to fit/evaluate/predict and the batches a step takes.

Arrays, Python generators (and other iterators), :class:`PyDataset` and
``torch.utils.data.DataLoader`` each become a :class:`DataAdapter`: an iterable
of batches, each a list of backend arrays in the order ``x, x_1, ..., y, y_1,
..., sample_weight``. :class:`Feed` draws an epoch's worth of batches from an
adapter (``steps_per_epoch``, ``validation_steps``), so the trainer has one loop.
"""

from __future__ import annotations

import contextlib
import itertools
import numbers
import types
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from highnn import random
from highnn.config import settings
from highnn.data import Batches

#: ``(x, y, sample_weight) -> {"x": ..., "y": ..., "sample_weight": ...}`` checked NumPy arrays (see ``data.prepare``)
Convert = Callable[[Any, Any, Any], dict[str, np.ndarray]]

INPUT_TYPES = (
    "NumPy, torch or JAX arrays (or lists or dicts of them, one per input), a Python generator or iterator "
    "yielding `x`, `(x, y)` or `(x, y, sample_weight)`, a `highnn.utils.PyDataset` or a `torch.utils.data.DataLoader`"
)

RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or generator can generate "
    "at least `steps_per_epoch * epochs` batches."
)


class PyDataset:
    """Keras's ``keras.utils.PyDataset``: a dataset of batches by index, for data that does not fit in memory.

    Define ``__len__`` (the number of batches per epoch) and ``__getitem__``
    (batch ``index`` as ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``);
    ``on_epoch_begin`` and ``on_epoch_end`` are called around every epoch.
    ``workers > 1`` loads up to ``max_queue_size`` batches ahead in that many
    threads (batches still arrive in order); ``use_multiprocessing`` is
    accepted and loads in threads too.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), returning a batch.")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__(), the number of batches.")

    @property
    def num_batches(self) -> int | None:
        """The number of batches per epoch (``len(self)``)."""
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch (shuffle the data here, for example)."""


class DataAdapter:
    """Batches of one kind of input, pass after pass; ``first`` holds the checked arrays the model is checked on."""

    #: batches in one pass, or None when only running out tells (generators)
    num_batches: int | None = None
    #: whether every ``iter()`` starts a new pass (False: a generator, consumed once)
    reiterable = True
    #: what the user passed, in words for errors
    kind = "arrays"
    first: dict[str, np.ndarray]

    def __iter__(self) -> Iterator[list[Any]]:
        raise NotImplementedError

    def on_epoch_begin(self) -> None:
        """Called before an epoch draws batches."""

    def on_epoch_end(self) -> None:
        """Called after an epoch drew its batches."""


class ArrayAdapter(DataAdapter):
    """Arrays held in memory, cut into (optionally reshuffled) minibatches."""

    def __init__(
        self, arrays: dict[str, np.ndarray], batch_size: int, shuffle: bool = False, batches: Batches | None = None
    ) -> None:
        self.first = arrays
        self.batches = batches or Batches(arrays, batch_size, shuffle=shuffle, names=tuple(arrays))
        self.num_batches = len(self.batches)

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(self.batches)


class IterableAdapter(DataAdapter):
    """Batches that arrive already made (a generator, a PyDataset, a DataLoader), checked and converted one by one."""

    #: whether a list batch is ``(x, y, ...)`` (PyDataset and DataLoader, as in Keras) or ``x`` (generators)
    lists_unpack = True

    def __init__(self, convert: Convert, owner: str) -> None:
        self.convert = convert
        self.owner = owner
        self._pending: Iterator[Any] | None = None
        first = next(self._fresh_pass(), None)
        if first is None:
            raise ValueError(f"{owner}: `x` must yield at least one batch, received an empty {self.kind}.")
        self.first = self._arrays(first)
        self._pending = itertools.chain([first], self._rest)

    _rest: Iterator[Any]

    def _fresh_pass(self) -> Iterator[Any]:
        """A new pass over the raw batches; keeps the iterator in ``_rest`` so the peeked batch is not lost."""
        self._rest = iter(self._raw())
        return self._rest

    def _raw(self) -> Iterable[Any]:
        raise NotImplementedError

    def _arrays(self, batch: Any) -> dict[str, np.ndarray]:
        if isinstance(batch, list) and self.lists_unpack:
            batch = tuple(batch)
        if not isinstance(batch, tuple):
            batch = (batch,)
        if not 1 <= len(batch) <= 3:
            raise ValueError(
                f"{self.owner}: a batch from the {self.kind} must be `x`, `(x,)`, `(x, y)` or "
                f"`(x, y, sample_weight)`, received a tuple of {len(batch)} items."
            )
        x, y, sample_weight = batch + (None,) * (3 - len(batch))
        return self.convert(x, y, sample_weight)

    def __iter__(self) -> Iterator[list[Any]]:
        raw, self._pending = (self._pending or self._fresh_pass()), None
        backend = settings.backend
        for batch in raw:
            yield [backend.batch(a, a.dtype.name) for a in self._arrays(batch).values()]


class GeneratorAdapter(IterableAdapter):
    """A Python generator or iterator: one pass, however many epochs draw from it."""

    kind = "generator"
    reiterable = False
    lists_unpack = False

    def __init__(self, generator: Iterator[Any], convert: Convert, owner: str) -> None:
        self.generator = generator
        super().__init__(convert, owner)

    def _raw(self) -> Iterable[Any]:
        return self.generator


class PyDatasetAdapter(IterableAdapter):
    """A :class:`PyDataset`: batch ``i`` is ``dataset[i]``, in order or reshuffled per epoch, loaded by its workers."""

    kind = "PyDataset"

    def __init__(self, dataset: PyDataset, convert: Convert, owner: str, shuffle: bool) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.num_batches = self.length = len(dataset)
        super().__init__(convert, owner)

    def _raw(self) -> Iterable[Any]:
        order = random.generator().permutation(self.length) if self.shuffle else range(self.length)
        indices = (int(i) for i in order)
        workers = getattr(self.dataset, "workers", 1)
        if workers <= 1:
            return (self.dataset[i] for i in indices)
        return _prefetch(
            self.dataset.__getitem__, indices, workers, max(getattr(self.dataset, "max_queue_size", 10), 1)
        )

    def on_epoch_begin(self) -> None:
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class DataLoaderAdapter(IterableAdapter):
    """A ``torch.utils.data.DataLoader``: its batches (torch tensors) become NumPy, then the backend's arrays."""

    kind = "torch DataLoader"

    def __init__(self, loader: Any, convert: Convert, owner: str) -> None:
        self.loader = loader
        try:
            self.num_batches = len(loader)
        except TypeError:  # an IterableDataset without __len__
            self.num_batches = None
        super().__init__(convert, owner)

    def _raw(self) -> Iterable[Any]:
        return self.loader


def _prefetch(load: Callable[[int], Any], indices: Iterator[int], workers: int, depth: int) -> Iterator[Any]:
    """``load(i)`` for each index, in order, with up to ``depth`` loads running ahead in ``workers`` threads."""
    with ThreadPoolExecutor(workers) as pool:
        queue: deque[Future[Any]] = deque(pool.submit(load, i) for i in itertools.islice(indices, depth))
        while queue:
            batch = queue.popleft().result()
            for i in itertools.islice(indices, 1):
                queue.append(pool.submit(load, i))
            yield batch


def is_torch_dataloader(x: Any) -> bool:
    """Whether ``x`` is a ``torch.utils.data.DataLoader`` (checked by class, so torch is never imported here)."""
    return any(c.__name__ == "DataLoader" and c.__module__.startswith("torch.utils.data") for c in type(x).__mro__)


def is_array_input(x: Any) -> bool:
    """Whether ``x`` may be arrays: an array, a number, or a list, tuple or dict (of arrays, one per input)."""
    if isinstance(x, (str, bytes)) or x is None:
        return False
    return (
        isinstance(x, (list, tuple, dict, np.ndarray, numbers.Number)) or hasattr(x, "__array__") or hasattr(x, "shape")
    )


def is_iterable_input(x: Any) -> bool:
    """Whether ``x`` brings its own batches (a generator, an iterator, a PyDataset or a DataLoader)."""
    return isinstance(x, (types.GeneratorType, Iterator, PyDataset)) or is_torch_dataloader(x)


def iterable_adapter(
    owner: str,
    x: Any,
    convert: Convert,
    *,
    batch_size: int | None,
    shuffle: bool,
    refused: dict[str, Any],
) -> IterableAdapter:
    """The adapter for ``x`` that brings its own batches; arguments that make no sense for it (``refused``:
    ``y``, ``sample_weight``, ``class_weight``; None when not passed) are refused as in Keras. ``batch_size`` is
    ignored with a warning (Keras ignores it silently, and its guides pass it)."""
    kind = "PyDataset" if isinstance(x, PyDataset) else "torch DataLoader" if is_torch_dataloader(x) else "generator"
    if batch_size is not None:
        warnings.warn(
            f"{owner}: `batch_size={batch_size}` is ignored when `x` is a {kind}, which yields whole batches.",
            stacklevel=3,
        )
    for argument, value in refused.items():
        if value is not None:
            raise ValueError(
                f"{owner}: `{argument}` must not be passed when `x` is a {kind}, received {_describe(value)}; "
                f"the {kind} yields whole batches (with their targets and sample weights)."
            )
    if isinstance(x, PyDataset):
        return PyDatasetAdapter(x, convert, owner, shuffle)
    if is_torch_dataloader(x):
        return DataLoaderAdapter(x, convert, owner)
    return GeneratorAdapter(x, convert, owner)


def _describe(value: Any) -> str:
    """A short phrase for a received value: its repr when short, else its type."""
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else f"a {type(value).__name__}"


class Feed:
    """The batches one loop draws, epoch after epoch: a whole pass, or ``steps`` batches.

    With ``steps``, training (``cycle=True``) continues where the last epoch
    stopped and starts a new pass when one ends; evaluation takes at most
    ``steps`` batches of a fresh pass. A generator is one pass for the Feed's
    whole life: when it runs out, :attr:`exhausted` turns on and a warning says so.
    """

    def __init__(self, adapter: DataAdapter, steps: int | None, cycle: bool = False) -> None:
        self.adapter = adapter
        self.steps = steps
        self.cycle = cycle
        self.exhausted = False
        self._warned = False
        self._stream: Iterator[list[Any]] | None = None
        #: batches the last epoch drew
        self.drawn = 0

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch, or None until a generator runs out."""
        total = self.adapter.num_batches
        if self.steps is None:
            return total
        return self.steps if self.cycle or total is None else min(self.steps, total)

    @contextlib.contextmanager
    def epoch(self) -> Iterator[Iterator[list[Any]]]:
        """The batches of one epoch, with the adapter's epoch hooks around them."""
        self.adapter.on_epoch_begin()
        self.drawn = 0
        try:
            yield self._counted(self._batches())
        finally:
            self.adapter.on_epoch_end()

    def ran_out(self) -> bool:
        """Whether a generator has no batches left for another epoch (a warning says so, once)."""
        if self.exhausted and not self._warned:
            self._warned = True
            warnings.warn(RAN_OUT, stacklevel=3)
        return self.exhausted

    def _counted(self, batches: Iterator[list[Any]]) -> Iterator[list[Any]]:
        for batch in batches:
            self.drawn += 1
            yield batch

    def _batches(self) -> Iterator[list[Any]]:
        if self.adapter.reiterable:
            if self.steps is None:
                yield from self.adapter
            elif self.cycle:
                if self._stream is None:
                    self._stream = itertools.chain.from_iterable(itertools.repeat(self.adapter))
                yield from itertools.islice(self._stream, self.steps)
            else:
                yield from itertools.islice(self.adapter, self.steps)
            return
        if self._stream is None:
            self._stream = iter(self.adapter)
        count = 0
        for batch in itertools.islice(self._stream, self.steps):
            count += 1
            yield batch
        if self.steps is None or count < self.steps:
            self.exhausted = True
            if self.steps is not None:
                self.ran_out()  # short of the steps asked for: Keras warns at once
