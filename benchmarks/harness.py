"""What the side-by-side benchmarks share: interleaved timing, and peak memory and Keras in fresh processes.

Keras 3 picks its backend once per process (``KERAS_BACKEND``), and a process's
peak resident set counts everything it ever held, so each Keras backend is
timed, and each contender's memory measured, in a child process of its own.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

Epoch = Callable[[], None]


def interleaved_medians(epochs: Mapping[str, Epoch], rounds: int) -> dict[str, float]:
    """Each epoch's median time in seconds: one warm-up each (tracing, compiling), then ``rounds`` turns in
    which every contender runs one epoch, so the machine's drifts hit them alike."""
    for epoch in epochs.values():
        epoch()
    times: dict[str, list[float]] = {name: [] for name in epochs}
    for _ in range(rounds):
        for name, epoch in epochs.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


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


def in_child(script: str, arguments: list[str], keras_backend: str | None = None) -> object:
    """Run ``script`` (a benchmark beside this file) with ``arguments`` in a fresh process; its last line, as JSON."""
    environment = dict(os.environ, **({"KERAS_BACKEND": keras_backend} if keras_backend else {}))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    result = subprocess.run([sys.executable, path, *arguments], capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
