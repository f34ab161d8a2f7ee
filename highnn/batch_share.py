"""Which rows of each global batch this process holds, under torch's data-parallel local view.

Every process of a torch ``DataParallel`` job takes its ``np.array_split`` share
of each global batch (see ``highnn.distribution.local_view``). While a step runs
on a share, :func:`current_share` says which one, so random layers draw the
global batch's noise and keep their rows (Dropout equals one process), and
synchronized BatchNorm knows the global number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple


class Share(NamedTuple):
    """Rows ``offset:offset + rows`` of a global batch of ``global_rows`` rows, on one of ``world`` processes.

    A global batch smaller than the world runs ``replicated``: every process holds all of it.
    """

    global_rows: int
    offset: int
    rows: int
    world: int
    rank: int

    @property
    def replicated(self) -> bool:
        return self.global_rows < self.world

    @property
    def weight(self) -> float:
        """This share's part of a mean over the global batch: local over global rows (replicated: 1 / world)."""
        return 1.0 / self.world if self.replicated else self.rows / self.global_rows

    @property
    def counts(self) -> tuple[int, ...]:
        """Every process's number of rows, in rank order."""
        return tuple(share_of(self.global_rows, rank, self.world).rows for rank in range(self.world))


def share_of(global_rows: int, rank: int, world: int) -> Share:
    """Process ``rank``'s share of a global batch, as ``np.array_split`` cuts it (the first shares one row longer)."""
    if global_rows < world:
        return Share(global_rows, 0, global_rows, world, rank)
    base, extra = divmod(global_rows, world)
    return Share(global_rows, rank * base + min(rank, extra), base + (rank < extra), world, rank)


_share: ContextVar[Share | None] = ContextVar("highnn.batch_share", default=None)


def current_share() -> Share | None:
    """The share the running step computes on (None: the whole batch, in one process)."""
    return _share.get()


@contextmanager
def sharing(share: Share | None) -> Iterator[None]:
    """Run this block's steps on ``share``."""
    token = _share.set(share)
    try:
        yield
    finally:
        _share.reset(token)
