"""What the side-by-side benchmarks share: interleaved timing, one process per library, peak memory.

Contenders are named ``<kind>-<library>`` (``highnn-torch``, ``loop-jax``,
``keras-torch``). Each library's contenders take turns in a child process of
their own: Keras 3 picks its backend once per process (``KERAS_BACKEND``), and
a library's worker threads keep spinning for a while after each call, so a
contender that followed another library's would find the cores taken. A
process's peak resident set counts everything it ever held, so each
contender's memory is measured in a fresh process too, one where freed buffers
leave the resident set (:data:`MMAP_THRESHOLD`).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

Epoch = Callable[[], None]

#: a memory-measuring process runs with glibc's ``MALLOC_MMAP_THRESHOLD_`` at this many bytes: every larger
#: allocation is mapped on its own and returned to the OS when freed, so the resident set follows live memory.
#: Without it glibc raises the threshold as buffers are freed and then keeps them in the heap, so what an
#: epoch adds after the warm-up depends on how earlier buffers happened to be placed (0 to 25 MiB for one loop)
MMAP_THRESHOLD = 4096


def turns(names: Sequence[str]) -> Iterator[list[str]]:
    """The order of each round in which every contender runs once, so that within the rounds every contender
    runs right after every other equally often (a Williams design: ``len(names)`` orders, twice as many for an
    odd number). An epoch right after a large one (Keras's, which leaves the caches and branch predictors full of
    its own code) runs slower than after a small loop's, and a fixed order, or one only rotated, would charge that
    to the same contender every round."""
    n = len(names)
    first = [(step + 1) // 2 if step % 2 else (n - step // 2) % n for step in range(n)]  # 0, 1, n-1, 2, n-2, ...
    orders = [[names[(i + shift) % n] for i in first] for shift in range(n)]
    if n % 2:
        orders += [order[::-1] for order in orders]
    yield from itertools.cycle(orders)


def interleaved_medians(epochs: Mapping[str, Epoch], rounds: int) -> dict[str, float]:
    """Each epoch's median time in seconds: one warm-up each (tracing, compiling), then ``rounds`` turns in
    which every contender runs one epoch (:func:`turns`), so the machine's drifts hit them alike."""
    for epoch in epochs.values():
        epoch()
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for order in itertools.islice(turns(list(epochs)), rounds):
        for name in order:
            start = time.perf_counter()
            epochs[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def library(name: str) -> str:
    """The array library a contender runs on."""
    return name.split("-")[1]


def hand_written_loop(name: str) -> str:
    """The loop a contender is compared with: the one on its own library (PyTorch's for NumPy)."""
    return "loop-torch" if library(name) == "numpy" else f"loop-{library(name)}"


def side_by_side(script: str, names: list[str], arguments: list[str], memory: bool) -> dict[str, dict[str, float]]:
    """Each contender's median epoch (``median_s``), its ratio to its hand-written loop (``vs_loop``) and,
    with ``memory``, what training adds to its resident set (``peak_mib``).

    ``script`` is run with ``arguments`` plus ``--only=<names>`` (print the
    interleaved medians as JSON) or ``--memory-of=<name>`` (print the peak).
    """
    medians: dict[str, float] = {}
    for group_library in dict.fromkeys(map(library, names)):
        group = ",".join(name for name in names if library(name) == group_library)
        child = in_child(script, [*arguments, f"--only={group}"], group_library)
        assert isinstance(child, dict)
        medians.update(child)
    results: dict[str, dict[str, float]] = {}
    for name in names:
        result = results[name] = {"median_s": medians[name]}
        loop = hand_written_loop(name)
        if loop != name and loop in medians:
            result["vs_loop"] = medians[name] / medians[loop]
        if memory:
            peak = in_child(script, [*arguments, f"--memory-of={name}"], library(name), memory=True)
            assert isinstance(peak, float)
            result["peak_mib"] = peak
    return results


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def peak_growth_mib(epoch: Epoch) -> float:
    """What two epochs add to the resident set at its peak, after a warm-up epoch, in MiB (Linux).

    The resident set is the one measure that sees NumPy's, PyTorch's (on CPU)
    and XLA's allocations alike; ``tracemalloc`` sees none of torch's.
    """
    epoch()  # tracing and compilation belong to the set-up
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets the peak (VmHWM) to the current resident set
    before = _proc_status_kib("VmRSS")
    epoch()
    epoch()
    return (_proc_status_kib("VmHWM") - before) / 1024


def in_child(script: str, arguments: list[str], keras_backend: str | None = None, memory: bool = False) -> object:
    """Run ``script`` (a benchmark beside this file) with ``arguments`` in a fresh process; its last line, as JSON.
    With ``memory`` the process returns freed buffers to the OS (:data:`MMAP_THRESHOLD`)."""
    environment = dict(os.environ, **({"KERAS_BACKEND": keras_backend} if keras_backend else {}))
    if memory:
        environment["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    result = subprocess.run([sys.executable, path, *arguments], capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
