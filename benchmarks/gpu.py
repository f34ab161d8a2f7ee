"""One command for an NVIDIA GPU: highnn's fit() against hand-written PyTorch and JAX loops and Keras 3.

    python benchmarks/gpu.py                              # on a CUDA machine: writes benchmarks/results/gpu.md
    python benchmarks/gpu.py --device cpu --smoke         # end to end in seconds on any machine (CI runs it)

Workloads: the medium MLP (784-512-512-10, batch 128) and a large one
(784-4096-4096-10, batch 512) from ``bench_fit.py``, the LeNet-style CNN from
``bench_cnn.py`` and the LSTM from ``bench_lstm.py`` (their own builders), in
float32 and bfloat16. bfloat16 runs highnn and Keras under the
``mixed_bfloat16`` policy and the hand-written PyTorch loop under
``torch.autocast``; a cell reads "n/a" where a contender has no bfloat16 path
(highnn before ``hn.mixed_precision`` exists, the hand-written JAX loops, Keras
on the LSTM, which its script does not build).

Each array library runs in a fresh worker process (Keras picks its backend at
import), where every contender is built, warmed up with one epoch, then timed
for ``--rounds`` epochs in turns; the table gives median milliseconds per epoch,
the device synchronised after each epoch.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cnn  # the sibling scripts, imported as modules
import bench_fit
import bench_lstm

import highnn as hn

LIBRARIES = ("torch", "jax")
CONTENDERS = ("highnn", "hand-written", "keras")
WORKLOADS = ("mlp-medium", "mlp-large", "cnn", "lstm")
DTYPES = ("float32", "bfloat16")
LARGE_MLP = bench_fit.ModelSpec("large", (784, 4096, 4096, 10), batch_size=512, samples=16_384)
#: ``--smoke`` sizes: every code path, seconds of work
SMOKE_MLP = {
    "mlp-medium": bench_fit.ModelSpec("medium", (16, 8, 8, 4), batch_size=16, samples=32),
    "mlp-large": bench_fit.ModelSpec("large", (16, 32, 32, 4), batch_size=16, samples=32),
}
SMOKE_CNN_SAMPLES, CNN_SAMPLES = 128, 4096
LSTM_SIZES = {"units": 128, "timesteps": 50, "features": 32, "batch": 64, "batches": 16}
SMOKE_LSTM_SIZES = {"units": 8, "timesteps": 4, "features": 3, "batch": 16, "batches": 2}

Epoch = Callable[[], Any]


class NotAvailable(Exception):
    """A contender with no path for this workload or dtype (its cell reads "n/a")."""


@dataclasses.dataclass(frozen=True)
class Task:
    library: str
    device: str
    smoke: bool
    rounds: int
    workloads: tuple[str, ...]
    dtypes: tuple[str, ...]


# ------------------------------------------------------------------ building the contenders (in a worker)
def mlp_problem(workload: str, smoke: bool) -> bench_fit.Problem:
    full = bench_fit.MODELS["medium"] if workload == "mlp-medium" else LARGE_MLP
    return bench_fit.Problem.make(SMOKE_MLP[workload] if smoke else full)


def set_policy(library: Any, dtype: str) -> None:
    """``mixed_bfloat16`` for bfloat16, ``float32`` otherwise (highnn or Keras); n/a where there are no policies."""
    mixed_precision = getattr(library, "mixed_precision", None)
    if mixed_precision is None:
        if dtype == "bfloat16":
            raise NotAvailable(f"{library.__name__} has no mixed precision yet")
        return
    mixed_precision.set_global_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")


def build(task: Task, workload: str, contender: str, dtype: str) -> Epoch:
    """One epoch of ``contender`` on ``workload`` in ``dtype`` (raises NotAvailable for an n/a cell)."""
    library = task.library
    if contender == "highnn":
        set_policy(hn, dtype)
    if contender == "keras":
        import keras

        set_policy(keras, dtype)
    if contender == "hand-written" and dtype == "bfloat16" and library == "jax":
        raise NotAvailable("the hand-written JAX loops compute in float32")
    if workload.startswith("mlp"):
        problem = mlp_problem(workload, task.smoke)
        if contender == "hand-written":
            return bench_fit.HAND_WRITTEN[library](problem, "float32", shuffle=False).run_epoch
        module = hn if contender == "highnn" else importlib.import_module("keras")
        with hn.config.use_backend(library):
            fit = bench_fit.fit_contender(module, problem, "float32", shuffle=False)

        def fit_epoch() -> None:
            with hn.config.use_backend(library):
                fit.run_epoch()

        return fit_epoch
    if workload == "cnn":
        name = {"highnn": "highnn", "hand-written": "loop", "keras": "keras"}[contender]
        return bench_cnn.make_epoch(f"{name}-{library}", SMOKE_CNN_SAMPLES if task.smoke else CNN_SAMPLES)
    if contender == "keras":
        raise NotAvailable("bench_lstm.py builds no Keras contender")
    sizes = SMOKE_LSTM_SIZES if task.smoke else LSTM_SIZES
    x, y = bench_lstm.make_data(sizes["batches"], sizes["batch"], sizes["timesteps"], sizes["features"])
    hn.utils.set_random_seed(0)
    with hn.config.use_backend("numpy"):
        template = hn.Sequential([hn.Input(x.shape[1:]), hn.layers.LSTM(sizes["units"]), hn.layers.Dense(1)])
    weights = [w.astype(np.float32) for w in template.get_weights()]
    if contender == "highnn":
        return bench_lstm.highnn_epoch(library, weights, x, y, sizes["batch"])
    loop = bench_lstm.torch_epoch if library == "torch" else bench_lstm.jax_epoch
    return loop(weights, x, y, sizes["batch"])


def synchronizer(library: str) -> Callable[[], None]:
    """Waits for every computation queued on the device."""
    if library == "torch":
        import torch

        return torch.cuda.synchronize if torch.cuda.is_available() else lambda: None
    import jax

    def wait_for_jax() -> None:
        for array in jax.live_arrays():
            array.block_until_ready()

    return wait_for_jax


def in_bfloat16(library: str, contender: str, dtype: str, epoch: Epoch) -> Epoch:
    """The hand-written PyTorch loop under ``torch.autocast`` for bfloat16; every other epoch as it is."""
    if (library, contender, dtype) != ("torch", "hand-written", "bfloat16"):
        return epoch
    import torch

    device_type = "cuda" if torch.cuda.is_available() else "cpu"

    def autocast_epoch() -> None:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            epoch()

    return autocast_epoch


def run_worker(task: Task) -> list[dict[str, Any]]:
    """Every (workload, dtype, contender) cell of one library: median ms per epoch, or why there is none."""
    if task.library == "torch" and task.device != "cpu":
        import torch

        torch.set_default_device(task.device)  # the sibling scripts' hand-written loops build default tensors
    # the sibling scripts pick highnn's backend by name only: run them on the chosen device
    hn.config.use_backend = functools.partial(hn.config.use_backend, device=task.device)  # type: ignore[assignment]
    sync = synchronizer(task.library)
    cells = []
    for workload in task.workloads:
        for dtype in task.dtypes:
            epochs: dict[str, Epoch] = {}
            for contender in CONTENDERS:
                cell = {"library": task.library, "workload": workload, "dtype": dtype, "contender": contender}
                try:
                    if contender == "keras" and bench_fit.keras_status(task.library):
                        raise NotAvailable(str(bench_fit.keras_status(task.library)))
                    epoch = in_bfloat16(task.library, contender, dtype, build(task, workload, contender, dtype))
                    epoch()  # warm-up: tracing and compiling
                    sync()
                    epochs[contender] = epoch
                except NotAvailable as reason:
                    cells.append({**cell, "note": f"n/a ({reason})"})
                except Exception as error:  # a failing contender is reported in its cell, the others still run
                    cells.append({**cell, "note": f"error: {type(error).__name__}: {error}"[:200]})
            times: dict[str, list[float]] = {name: [] for name in epochs}
            for _ in range(task.rounds):
                for name, epoch in epochs.items():
                    started = time.perf_counter()
                    epoch()
                    sync()
                    times[name].append(time.perf_counter() - started)
            cells += [
                {"library": task.library, "workload": workload, "dtype": dtype, "contender": name,
                 "ms": 1000 * statistics.median(values)}
                for name, values in times.items()
            ]  # fmt: skip
    return cells


def spawn(task: Task) -> list[dict[str, Any]]:
    """``run_worker(task)`` in a fresh process (KERAS_BACKEND set; no GPU visible for ``--device cpu``)."""
    environment = {**os.environ, "KERAS_BACKEND": task.library}
    if task.device == "cpu":
        environment["CUDA_VISIBLE_DEVICES"] = ""
        environment["JAX_PLATFORMS"] = "cpu"
    command = [sys.executable, __file__, "--worker", json.dumps(dataclasses.asdict(task))]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last_line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        note = f"error: worker failed: {last_line}"
        return [
            {"library": task.library, "workload": w, "dtype": d, "contender": c, "note": note[:200]}
            for w in task.workloads for d in task.dtypes for c in CONTENDERS
        ]  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the report
def table(cells: Sequence[dict[str, Any]], libraries: Sequence[str]) -> str:
    """Markdown: one row per (workload, dtype), ms per epoch per contender, highnn / hand-written per library."""
    found = {(c["library"], c["workload"], c["dtype"], c["contender"]): c for c in cells}
    names = {"highnn": "highnn on {}", "hand-written": "hand-written {}", "keras": "Keras 3 ({})"}
    titles = {"torch": "PyTorch", "jax": "JAX"}
    header = ["workload", "dtype"]
    header += [names[c].format(titles[lib]) + " ms" for lib in libraries for c in CONTENDERS]
    header += [f"highnn / hand-written ({titles[lib]})" for lib in libraries]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = dict.fromkeys((c["workload"], c["dtype"]) for c in cells)
    for workload, dtype in keys:
        row = [workload, dtype]
        for library in libraries:
            for contender in CONTENDERS:
                cell = found.get((library, workload, dtype, contender), {"note": "not run"})
                row.append(f"{cell['ms']:.1f}" if "ms" in cell else cell["note"].split(" (")[0].split(":")[0])
        for library in libraries:
            ours, theirs = (found.get((library, workload, dtype, c), {}) for c in ("highnn", "hand-written"))
            row.append(f"{ours['ms'] / theirs['ms']:.2f}" if "ms" in ours and "ms" in theirs else "–")
        lines.append("| " + " | ".join(row) + " |")
    notes = sorted({f"{c['library']} {c['workload']} {c['dtype']} {c['contender']}: {c['note']}" for c in cells
                    if "note" in c and not c["note"].startswith("n/a")})  # fmt: skip
    return "\n".join(lines + ([""] + [f"- {note}" for note in notes] if notes else [])) + "\n"


def environment_lines(device: str) -> list[str]:
    lines = [f"- device: {device}; Python {sys.version.split()[0]}"]
    for package in ("numpy", "torch", "jax", "keras"):
        try:
            lines.append(f"- {package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(f"- {package}: not installed")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one timed round: checks every path")
    parser.add_argument("--libraries", default="torch,jax")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per contender (1 with --smoke)")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" / "gpu.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(args.worker).items()}
        print(json.dumps(run_worker(Task(**fields))))
        return 0
    libraries = [lib for lib in args.libraries.split(",") if bench_fit.backend_unavailable(lib) is None]
    rounds = 1 if args.smoke else args.rounds
    workloads, dtypes = tuple(args.workloads.split(",")), tuple(args.dtypes.split(","))
    cells = [
        cell
        for library in libraries
        for cell in spawn(Task(library, args.device, args.smoke, rounds, workloads, dtypes))
    ]
    command = "python benchmarks/gpu.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join(
        ["# highnn on the device", "", f"`{command.strip()}`", "", *environment_lines(args.device), "",
         "Median milliseconds per epoch (device synchronised after each).", "", table(cells, libraries)]
    )  # fmt: skip
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
