"""One batch ahead: the next batch is converted and sent to the device before the current step runs.

The backend's ``batch`` puts a host batch in the form its step takes: on CUDA
the PyTorch backend copies it from pinned memory without blocking, and the JAX
backend starts an asynchronous ``device_put``; on a CPU both are plain
conversions. Preparing batch ``i + 1`` before step ``i`` is dispatched lets that
copy overlap with the device still running step ``i - 1`` (device work is
asynchronous), so the step never waits for its inputs. The batches and their
order are exactly those of the wrapped iterator; at most one batch more than
the consumer takes is prepared (never past the iterator's end). A source that
fails while preparing the next batch still hands out the current one first, so
every batch it produced runs before its error arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

_END = object()


def prefetched(batches: Iterable[Item]) -> Iterator[Item]:
    """``batches`` in the same order, each pulled from the source one step before it is handed out."""
    source = iter(batches)
    upcoming: object = next(source, _END)
    while upcoming is not _END:
        current = upcoming
        try:
            upcoming = next(source, _END)
        except Exception:
            yield current  # type: ignore[misc]
            raise
        yield current  # type: ignore[misc]
