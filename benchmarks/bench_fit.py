"""Time a training epoch of highnn's ``fit()`` against a hand-written loop and Keras 3, backend by backend.

    python benchmarks/bench_fit.py --models medium,tiny --backends numpy,torch,jax \\
        --epochs-timed 5 --output benchmarks/results/results.md

Every contender trains the same MLP (ReLU hidden layers, logits out, sparse
categorical crossentropy from logits, plain SGD with learning rate 0.01) on the
same synthetic data from the same initial weights, drawn once in NumPy. One
warm-up epoch, then at least ``--epochs-timed`` rounds in which the
contenders take turns, one epoch each, so that the machine's slow drifts hit
them alike, and more rounds until they took ``--seconds`` (a small model's
epochs take milliseconds); the table reports each contender's median epoch.

- highnn: ``model.fit(..., epochs=1, verbose=0)`` on the backend selected with
  ``hn.config.use_backend``; the epoch is timed by a callback, so fit()'s
  per-call setup is reported apart.
- hand-written: NumPy with manual backprop; PyTorch with autograd and
  ``param -= lr * grad`` under ``torch.no_grad()``; JAX with ``jax.jit`` of a
  ``jax.value_and_grad`` step. On JAX also the same loop carrying the state
  Keras's step carries (learning rate, iteration count, loss tracker, logs),
  which shows what that state costs a small model.
- Keras 3 on the same backend, when ``keras`` is importable.
- the limit: the epoch's matrix-product FLOPs at the NumPy float32 GEMM rate,
  measured in this process before and after the timing workers (never inside
  them, where NumPy's spinning BLAS threads would slow the next contender).

Each (model, backend) pair is timed in a fresh subprocess (Keras picks its
backend at import), and each contender's peak memory is measured in a fresh
subprocess of its own. A float64 cross-check first verifies that highnn and the
hand-written loops compute the same epoch. ``--profile`` adds where highnn's
epoch time goes (unprofiled ablations and a cProfile breakdown).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import harness
import numpy as np

import highnn as hn
from highnn.config import settings
from highnn.data import Batches
from highnn.tracing import Program, TracedFunction

LEARNING_RATE = 0.01
SEED = 0
CONTENDERS = ("highnn", "hand-written", "keras")
#: timed on JAX besides the contenders: the hand-written loop carrying Keras's per-step state
KERAS_STATE = "hand-written + Keras state"
BACKENDS = ("numpy", "torch", "jax")
#: the issue's targets for highnn / hand-written, per (model, backend)
TARGETS = {
    ("medium", "numpy"): 1.05, ("medium", "torch"): 1.05, ("medium", "jax"): 1.05,
    ("tiny", "numpy"): 1.5, ("tiny", "torch"): 1.2, ("tiny", "jax"): 1.1,
}  # fmt: skip
#: the largest weight difference the float64 cross-check accepts after one epoch
CHECK_TOLERANCE = 1e-9
CHECK_STEPS = 8
#: the grouped variant --profile also times
PROFILE_STEPS_PER_EXECUTION = 8


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """An MLP ``sizes[0] -> ... -> sizes[-1]`` trained with ``batch_size`` on ``samples`` examples."""

    name: str
    sizes: tuple[int, ...]
    batch_size: int
    samples: int

    @property
    def steps(self) -> int:
        return -(-self.samples // self.batch_size)

    def epoch_flops(self) -> int:
        """Matrix-product FLOPs of one epoch: forward, weight gradient and input gradient (none for the first layer)."""
        per_example = sum(
            2 * fan_in * fan_out * (2 if layer == 0 else 3)
            for layer, (fan_in, fan_out) in enumerate(zip(self.sizes, self.sizes[1:]))
        )
        return per_example * self.samples


MODELS = {
    "medium": ModelSpec("medium", (784, 512, 512, 10), batch_size=128, samples=10_240),
    "tiny": ModelSpec("tiny", (64, 64, 10), batch_size=32, samples=4_096),
}


@dataclasses.dataclass(frozen=True)
class Problem:
    """Synthetic data and initial weights (Glorot-uniform kernels, small random biases), drawn once in NumPy."""

    spec: ModelSpec
    x: np.ndarray
    y: np.ndarray
    weights: list[np.ndarray]

    @classmethod
    def make(cls, spec: ModelSpec, seed: int = SEED) -> Problem:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((spec.samples, spec.sizes[0]))
        y = rng.integers(0, spec.sizes[-1], spec.samples)
        weights = []
        for fan_in, fan_out in zip(spec.sizes, spec.sizes[1:]):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            weights += [rng.uniform(-limit, limit, (fan_in, fan_out)), rng.uniform(-0.1, 0.1, fan_out)]
        return cls(spec, x, y, weights)

    def head(self, samples: int) -> Problem:
        """The first ``samples`` examples, same weights."""
        spec = dataclasses.replace(self.spec, samples=min(samples, self.spec.samples))
        return Problem(spec, self.x[: spec.samples], self.y[: spec.samples], self.weights)

    def inputs(self, dtype: str) -> np.ndarray:
        return self.x.astype(dtype)

    def weights_as(self, dtype: str) -> list[np.ndarray]:
        return [w.astype(dtype) for w in self.weights]


def block(arrays: Sequence[Any]) -> None:
    """Wait for arrays still being computed (JAX dispatches asynchronously; NumPy and CPU PyTorch do not)."""
    for array in arrays:
        if hasattr(array, "block_until_ready"):
            array.block_until_ready()


# ------------------------------------------------------------------ contenders
class Contender:
    """Trains a model one epoch at a time; :meth:`run_epoch` returns the epoch's wall time in seconds.

    A :class:`MemoryProbe` set as ``probe`` is started and stopped around the epoch itself.
    """

    probe: MemoryProbe | None = None

    def run_epoch(self) -> float:
        raise NotImplementedError

    def weights(self) -> list[np.ndarray]:
        """The current weights as NumPy arrays: kernel, bias, kernel, bias, ..."""
        raise NotImplementedError


class EpochClock:
    """Callback mixin (highnn's or Keras's Callback class beside it): times each epoch once its weights are ready."""

    def __init__(self, ready: Callable[[], list[Any]]) -> None:
        super().__init__()
        self.ready = ready
        self.probe: MemoryProbe | None = None
        self.started = self.elapsed = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if self.probe is not None:
            self.probe.start()
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        block(self.ready())
        self.elapsed = time.perf_counter() - self.started
        if self.probe is not None:
            self.probe.stop()


class FitContender(Contender):
    """A Keras-style model trained with ``fit(epochs=1)``; the epoch is timed inside fit, its setup apart."""

    def __init__(self, model: Any, clock: EpochClock, problem: Problem, dtype: str, shuffle: bool) -> None:
        self.model, self.clock, self.shuffle = model, clock, shuffle
        self.x, self.y, self.batch_size = problem.inputs(dtype), problem.y, problem.spec.batch_size
        self.fit_overheads: list[float] = []

    def run_epoch(self) -> float:
        self.clock.probe = self.probe
        started = time.perf_counter()
        self.model.fit(
            self.x,
            self.y,
            batch_size=self.batch_size,
            epochs=1,
            verbose=0,
            shuffle=self.shuffle,
            callbacks=[self.clock],
        )
        self.fit_overheads.append(time.perf_counter() - started - self.clock.elapsed)
        return self.clock.elapsed

    def weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self.model.get_weights()]


def fit_contender(
    library: ModuleType, problem: Problem, dtype: str, shuffle: bool = True, steps_per_execution: int = 1
) -> FitContender:
    """``library.Sequential(...).fit``: highnn on its active backend, or Keras 3 on ``KERAS_BACKEND``'s (same API)."""
    sizes = problem.spec.sizes
    library.utils.set_random_seed(SEED)
    model = library.Sequential(
        [library.Input((sizes[0],))]
        + [library.layers.Dense(units, activation="relu") for units in sizes[1:-1]]
        + [library.layers.Dense(sizes[-1])]
    )
    model.compile(
        optimizer=library.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss=library.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    model.set_weights(problem.weights_as(dtype))
    clock_class = type("FitEpochClock", (EpochClock, library.callbacks.Callback), {})
    clock = clock_class(lambda: [w.value for w in model.trainable_weights])
    return FitContender(model, clock, problem, dtype, shuffle)


class HandWrittenLoop(Contender):
    """The epoch driver every hand-written loop shares: shuffle, slice minibatches, step, wait for the result.

    Subclasses hold ``x``/``y`` in their library's form and define ``permutation``
    and ``step`` (which also adds the batch loss to a running sum, as fit's
    loss tracker does).
    """

    x: Any
    y: Any

    def __init__(self, problem: Problem, shuffle: bool) -> None:
        self.samples, self.batch_size, self.shuffle = problem.spec.samples, problem.spec.batch_size, shuffle

    def run_epoch(self) -> float:
        if self.probe is not None:
            self.probe.start()
        started = time.perf_counter()
        order = self.permutation() if self.shuffle else None
        for first in range(0, self.samples, self.batch_size):
            index = slice(first, first + self.batch_size) if order is None else order[first : first + self.batch_size]
            self.step(self.x[index], self.y[index])
        block(self.pending())
        elapsed = time.perf_counter() - started
        if self.probe is not None:
            self.probe.stop()
        return elapsed

    def permutation(self) -> Any:
        raise NotImplementedError

    def step(self, x: Any, y: Any) -> None:
        raise NotImplementedError

    def pending(self) -> list[Any]:
        """Arrays the epoch's last step produces (to wait for)."""
        return []


class NumpyLoop(HandWrittenLoop):
    """Manual backprop: matmuls, ReLU mask, softmax-crossentropy gradient, in-place SGD update."""

    def __init__(self, problem: Problem, dtype: str, shuffle: bool = True) -> None:
        super().__init__(problem, shuffle)
        self.x, self.y = problem.inputs(dtype), problem.y
        self.params = problem.weights_as(dtype)
        self.rng = np.random.default_rng(SEED)
        self.loss_sum = 0.0

    def permutation(self) -> np.ndarray:
        return self.rng.permutation(self.samples)

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        kernels, biases = self.params[0::2], self.params[1::2]
        activations = [x]
        for kernel, bias in zip(kernels[:-1], biases[:-1]):
            activations.append(np.maximum(activations[-1] @ kernel + bias, 0))
        logits = activations[-1] @ kernels[-1] + biases[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        totals = exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        self.loss_sum += float(np.mean(np.log(totals[:, 0]) - shifted[rows, y]))
        delta = exp / totals  # softmax - one_hot(y), averaged over the batch
        delta[rows, y] -= 1
        delta /= len(y)
        for layer in reversed(range(len(kernels))):
            inputs = activations[layer]
            kernel_grad, bias_grad = inputs.T @ delta, delta.sum(axis=0)
            if layer:
                delta = (delta @ kernels[layer].T) * (inputs > 0)
            kernels[layer] -= LEARNING_RATE * kernel_grad
            biases[layer] -= LEARNING_RATE * bias_grad

    def weights(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]


class TorchLoop(HandWrittenLoop):
    """PyTorch autograd for the gradients, ``param -= lr * grad`` under ``torch.no_grad()`` for the update."""

    def __init__(self, problem: Problem, dtype: str, shuffle: bool = True) -> None:
        import torch

        super().__init__(problem, shuffle)
        self.torch = torch
        self.x, self.y = torch.as_tensor(problem.inputs(dtype)), torch.as_tensor(problem.y)  # on the default device
        self.params = [torch.tensor(w, requires_grad=True) for w in problem.weights_as(dtype)]
        self.generator = torch.Generator().manual_seed(SEED)
        self.loss_sum = torch.zeros((), dtype=self.x.dtype)

    def permutation(self) -> Any:
        return self.torch.randperm(self.samples, generator=self.generator)

    def step(self, x: Any, y: Any) -> None:
        torch = self.torch
        hidden = x
        for kernel, bias in zip(self.params[0:-2:2], self.params[1:-2:2]):
            hidden = torch.relu(hidden @ kernel + bias)
        loss = torch.nn.functional.cross_entropy(hidden @ self.params[-2] + self.params[-1], y)
        loss.backward()
        with torch.no_grad():
            for param in self.params:
                param -= LEARNING_RATE * param.grad
                param.grad = None
            self.loss_sum += loss

    def weights(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.params]


class JaxLoop(HandWrittenLoop):
    """``jax.jit`` of one step: ``jax.value_and_grad`` of the loss, then the SGD update (buffers donated)."""

    def __init__(self, problem: Problem, dtype: str, shuffle: bool = True) -> None:
        import jax
        import jax.numpy as jnp

        super().__init__(problem, shuffle)
        self.x, self.y = problem.inputs(dtype), problem.y
        self.params = [jnp.asarray(w) for w in problem.weights_as(dtype)]
        self.loss_sum = jnp.zeros((), dtype=dtype)
        self.rng = np.random.default_rng(SEED)

        def train_step(params: list[Any], loss_sum: Any, x: Any, y: Any) -> tuple[list[Any], Any]:
            loss, grads = jax.value_and_grad(jax_loss)(params, x, y)
            return [p - LEARNING_RATE * g for p, g in zip(params, grads)], loss_sum + loss

        self.train_step = jax.jit(train_step, donate_argnums=(0, 1))

    def permutation(self) -> np.ndarray:
        return self.rng.permutation(self.samples)

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.params, self.loss_sum = self.train_step(self.params, self.loss_sum, x, y)

    def pending(self) -> list[Any]:
        return [*self.params, self.loss_sum]

    def weights(self) -> list[np.ndarray]:
        return [np.asarray(p) for p in self.params]


class JaxKerasStateLoop(JaxLoop):
    """The JAX loop carrying the state a Keras ``fit()`` step carries: the learning rate as an argument (a
    variable, which schedules and callbacks change), the iteration count, the loss tracker's total and count, and
    the mean loss so far returned every step (the batch's logs). It shows what that state costs a small step."""

    def __init__(self, problem: Problem, dtype: str, shuffle: bool = True) -> None:
        import jax
        import jax.numpy as jnp

        super().__init__(problem, dtype, shuffle)
        self.state = [
            jnp.asarray(LEARNING_RATE, dtype),
            jnp.zeros((), "int32"),
            jnp.zeros((), dtype),
            jnp.zeros((), dtype),
        ]

        def train_step(params: list[Any], state: list[Any], x: Any, y: Any) -> tuple[list[Any], list[Any], Any]:
            learning_rate, iterations, total, count = state
            loss, grads = jax.value_and_grad(jax_loss)(params, x, y)
            total, count = total + loss * len(x), count + len(x)
            state = [learning_rate, iterations + 1, total, count]
            return [p - learning_rate * g for p, g in zip(params, grads)], state, total / count

        self.keras_step = jax.jit(train_step, donate_argnums=(0,))

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        self.params, self.state, self.logs = self.keras_step(self.params, self.state, x, y)

    def pending(self) -> list[Any]:
        return [*self.params, self.logs]


def jax_loss(params: list[Any], x: Any, y: Any) -> Any:
    """The MLP's mean sparse categorical crossentropy from logits, in JAX."""
    import jax
    import jax.numpy as jnp

    hidden = x
    for kernel, bias in zip(params[0:-2:2], params[1:-2:2]):
        hidden = jax.nn.relu(hidden @ kernel + bias)
    log_probs = jax.nn.log_softmax(hidden @ params[-2] + params[-1])
    return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))


HAND_WRITTEN: dict[str, type[HandWrittenLoop]] = {"numpy": NumpyLoop, "torch": TorchLoop, "jax": JaxLoop}


def keras_status(backend: str) -> str | None:
    """Why Keras cannot run on ``backend`` here, or None when it can."""
    if importlib.util.find_spec("keras") is None:
        return "not installed"
    if backend == "numpy":
        return "n/a (Keras's NumPy backend cannot train)"
    return None


def make_contender(name: str, problem: Problem, backend: str, dtype: str) -> Contender:
    if name == "highnn":
        return fit_contender(hn, problem, dtype)
    if name == "keras":
        return fit_contender(importlib.import_module("keras"), problem, dtype)
    if name == KERAS_STATE:
        return JaxKerasStateLoop(problem, dtype)
    return HAND_WRITTEN[backend](problem, dtype)


# -------------------------------------------------------------- measurements
def cross_check(problem: Problem, backend: str) -> dict[str, float]:
    """Max weight difference after one unshuffled float64 epoch, against the NumPy hand-written loop.

    Call inside ``hn.config.use_backend(backend, floatx="float64")``.
    """
    problem = problem.head(CHECK_STEPS * problem.spec.batch_size)
    reference = NumpyLoop(problem, "float64", shuffle=False)
    reference.run_epoch()
    differences = {}
    contenders: dict[str, Contender] = {"highnn": fit_contender(hn, problem, "float64", shuffle=False)}
    if backend != "numpy":
        contenders["hand-written"] = HAND_WRITTEN[backend](problem, "float64", shuffle=False)
    for name, contender in contenders.items():
        contender.run_epoch()
        differences[name] = max(float(np.max(np.abs(a - b))) for a, b in zip(contender.weights(), reference.weights()))
    return differences


def time_epochs(contenders: dict[str, Contender], epochs_timed: int, seconds: float = 0.0) -> dict[str, list[float]]:
    """One warm-up epoch, then rounds of one epoch per contender, in turn (each contender following every other
    equally often: ``harness.turns``): ``epochs_timed`` rounds, and more until the timed rounds took ``seconds``
    (a small model's epochs take milliseconds, and the median of a few of them moves with every burst of load).

    Nothing else runs between the rounds: NumPy's BLAS threads keep spinning
    for a while after a product, and on a torch or JAX worker they would take
    the cores from whichever contender came next.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    started = 0.0
    for round_index, order in enumerate(harness.turns(list(contenders))):
        if round_index == 1:
            started = time.perf_counter()
        elif round_index > epochs_timed and time.perf_counter() - started >= seconds:
            break
        for name in order:
            elapsed = contenders[name].run_epoch()
            if round_index:
                times[name].append(elapsed)
    return times


def _proc_status(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field} field")


class MemoryProbe:
    """The peak number of bytes above the starting point between :meth:`start` and :meth:`stop`.

    ``tracemalloc`` counts NumPy's and Python's allocations (tracing must be on).
    ``rss`` reads the resident-set high-water mark, reset at the start through
    ``/proc/self/clear_refs``; the worker runs with a low ``MALLOC_MMAP_THRESHOLD_``
    so that freed buffers leave the resident set.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        self.base = self.peak = 0

    def start(self) -> None:
        if self.method == "tracemalloc":
            tracemalloc.reset_peak()
            self.base = tracemalloc.get_traced_memory()[0]
        else:
            self.base = _proc_status("VmRSS")
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")

    def stop(self) -> None:
        high = tracemalloc.get_traced_memory()[1] if self.method == "tracemalloc" else _proc_status("VmHWM")
        self.peak = high - self.base


def peak_memory(contender: Contender, method: str) -> dict[str, int]:
    """Peak bytes of one epoch (``epoch``) and of the whole ``run_epoch`` call (``call``: fit's setup included).

    Each is measured over an epoch of its own, after a warm-up epoch that
    also lets tracemalloc see the buffers the measured epochs free.
    """
    if method == "tracemalloc":
        tracemalloc.start()
    contender.run_epoch()
    gc.collect()
    probe = MemoryProbe(method)
    contender.probe = probe
    contender.run_epoch()
    contender.probe = None
    epoch = probe.peak
    probe.start()
    contender.run_epoch()
    probe.stop()
    if method == "tracemalloc":
        tracemalloc.stop()
    return {"epoch": epoch, "call": probe.peak}


def memory_method(backend: str) -> str:
    """tracemalloc sees NumPy's buffers; torch's and XLA's allocators only show in the resident set."""
    return "tracemalloc" if backend == "numpy" else "rss"


def profile_highnn(problem: Problem, backend: str, dtype: str = "float32") -> dict[str, Any]:
    """Where a highnn epoch goes: unprofiled ablations (fit, replay alone, batching alone) and a cProfile breakdown.

    The replay ablations trace ``model.train_step`` with their own
    :class:`highnn.tracing.TracedFunction`, as fit does with one step per call.
    """
    contender = fit_contender(hn, problem, dtype)
    grouped = fit_contender(hn, problem, dtype, steps_per_execution=PROFILE_STEPS_PER_EXECUTION)
    hand = HAND_WRITTEN[backend](problem, dtype)
    model = contender.model
    arrays = {"x": contender.x, "y": contender.y}
    batch_size = problem.spec.batch_size
    batches = [
        batch for batch in Batches(arrays, batch_size, shuffle=True) if len(batch[0]) == batch_size
    ]  # one program
    traced = TracedFunction(lambda *batch: list(model.train_step(tuple(batch)).values()))  # the step's logs out
    traced(*batches[0])
    program, compiled = next(iter(traced.programs.values()))

    def batching() -> float:
        started = time.perf_counter()
        for _ in Batches(arrays, problem.spec.batch_size, shuffle=True):
            pass
        return time.perf_counter() - started

    def traced_replay() -> float:
        started = time.perf_counter()
        for batch in batches:
            traced(*batch)
        block([w.value for w in model.trainable_weights])
        return time.perf_counter() - started

    def program_alone() -> float:
        """The compiled program, the updated variables threaded by hand (donated buffers must not be reused)."""
        values = [v.value for v in program.read]
        updated = {id(v): i for i, v in enumerate(program.updated)}
        sources = [updated.get(id(v)) for v in program.read]
        started = time.perf_counter()
        for batch in batches:
            results = compiled(*batch, *values)
            new = results[len(results) - len(program.updated) :]
            values = [value if source is None else new[source] for value, source in zip(values, sources)]
        block(values)
        elapsed = time.perf_counter() - started
        for variable, value in zip(program.read, values):
            variable.value = value
        return elapsed

    def weights_only() -> float:
        """The program with Keras's state frozen in (:func:`weights_only_program`), the weights threaded by hand."""
        step, passed = weights_only_program(program, len(batches[0]))
        step(*batches[0], *fresh_copies(program, passed))  # compiles (and may consume the donated weights)
        weights = fresh_copies(program, passed)
        started = time.perf_counter()
        for batch in batches:
            weights = list(step(*batch, *weights)[program.n_outputs :])
        block(weights)
        return time.perf_counter() - started

    def best(run_epoch: Callable[[], float], repeats: int = 5) -> float:
        """The fastest of ``repeats`` epochs after a warm-up one."""
        run_epoch()
        return min(run_epoch() for _ in range(repeats))

    steps = problem.spec.steps  # the replays run full batches only: scaled to a whole epoch
    timings = {
        "fit epoch": best(contender.run_epoch),
        f"fit epoch, compile(steps_per_execution={PROFILE_STEPS_PER_EXECUTION})": best(grouped.run_epoch),
        "TracedFunction(train_step) on pre-made batches": best(traced_replay) * steps / len(batches),
        "generated program alone": best(program_alone) * steps / len(batches),
        "generated program, Keras's state frozen in": best(weights_only) * steps / len(batches),
        "Batches iteration alone": best(batching),
        "hand-written epoch": best(hand.run_epoch),
    }
    profiler = cProfile.Profile()
    profiler.enable()
    contender.run_epoch()
    profiler.disable()
    return {
        "per_step_us": {name: seconds / steps * 1e6 for name, seconds in timings.items()},
        "program_ops": program.n_steps,
        "profile_groups": _group_profile(pstats.Stats(profiler)),
        "profile_top": _top_functions(pstats.Stats(profiler), steps),
    }


def weights_only_program(program: Program, n_batch: int) -> tuple[Callable[..., Any], list[int]]:
    """``program`` compiled with every variable but the trainable ones frozen into it as constants (the
    optimizer's and the metrics' state: what a Keras step carries beside the weights), and the positions in
    ``program.read`` of the weights it takes after the ``n_batch`` batch arrays; it returns the program's outputs,
    then the new weights. On JAX the constants are NumPy arrays, which XLA embeds rather than passes."""
    backend = settings.backend
    passed = [i for i, v in enumerate(program.read) if v.trainable]
    frozen = [backend.to_numpy(v.value).copy() for v in program.read]
    if backend.name != "jax":
        frozen = [backend.asarray(value, value.dtype.name) for value in frozen]
    position = {id(v): i for i, v in enumerate(program.updated)}
    returned = [program.n_outputs + position[id(program.read[i])] for i in passed]

    def step(*arguments: Any) -> tuple[Any, ...]:
        values = list(frozen)
        for i, value in zip(passed, arguments[n_batch:]):
            values[i] = value
        results = program.function(*arguments[:n_batch], *values)
        return (*results[: program.n_outputs], *(results[i] for i in returned))

    return backend.compile(step, range(n_batch, n_batch + len(passed))), passed


def fresh_copies(program: Program, positions: Sequence[int]) -> list[Any]:
    """Copies of the values of ``program.read`` at ``positions`` (a donating program may consume them)."""
    backend = settings.backend
    copies = [backend.to_numpy(program.read[i].value).copy() for i in positions]
    return [backend.asarray(copy, copy.dtype.name) for copy in copies]


#: cProfile entries grouped by where their code lives (first match wins)
PROFILE_GROUPS = (
    ("generated program (its lines and the NumPy ufuncs they call)", "<highnn program>"),
    ("highnn/tracing.py (TracedFunction.__call__)", "highnn/tracing.py"),
    ("highnn/data.py (Batches)", "highnn/data.py"),
    ("highnn/trainer.py (fit loop, metrics result)", "highnn/trainer.py"),
    ("highnn/metrics/", "highnn/metrics.py"),
    ("highnn/callbacks", "highnn/callbacks"),
    ("backends/ (Python wrappers)", "backends/"),
    ("other highnn Python", "highnn/"),
    ("NumPy/torch/JAX Python wrappers", "site-packages"),
    ("C functions (kernels and builtins)", "~"),
)


def _group(filename: str) -> str:
    for group, marker in PROFILE_GROUPS:
        if marker in filename:
            return group
    return "other Python"


def _group_profile(stats: pstats.Stats) -> dict[str, float]:
    """Own time (tottime) per group, as a fraction of the profiled total."""
    totals: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        totals[_group(filename)] = totals.get(_group(filename), 0.0) + own
    grand = sum(totals.values())
    return {group: own / grand for group, own in sorted(totals.items(), key=lambda item: -item[1])}


def _top_functions(stats: pstats.Stats, steps: int, count: int = 12) -> list[tuple[str, int, float]]:
    """The ``count`` functions with the most own time: name, calls per step, own µs per step."""
    rows = [
        (f"{Path(filename).name}:{line}({name})" if filename != "~" else name, calls, own)
        for (filename, line, name), (_, calls, own, _, _) in stats.stats.items()  # type: ignore[attr-defined]
    ]
    rows.sort(key=lambda row: -row[2])
    return [(name, round(calls / steps), own / steps * 1e6) for name, calls, own in rows[:count]]


def gemm_rate(size: int = 1024, repeats: int = 20) -> float:
    """The best float32 NumPy matrix-product rate, in FLOP/s, over ``repeats`` size x size products."""
    rng = np.random.default_rng(SEED)
    a, b = rng.standard_normal((2, size, size), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


# ------------------------------------------------------------------ workers
def run_worker(task: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement task (``kind``: time, memory, profile or scaling) in this process."""
    if task["kind"] == "scaling":
        spec = ModelSpec(task["model"], tuple(task["sizes"]), task["batch_size"], task["samples"])
    else:
        spec = dataclasses.replace(MODELS[task["model"]], samples=task["samples"])
    problem, backend = Problem.make(spec), task["backend"]
    if task["kind"] == "scaling":
        with hn.config.use_backend(backend, floatx="float32"):
            contenders = {name: make_contender(name, problem, backend, "float32") for name in runnable(backend)}
            return {"times": time_epochs(contenders, task["epochs_timed"])}
    if task["kind"] == "time":
        with hn.config.use_backend(backend, floatx="float64"):
            check = cross_check(problem, backend)
        with hn.config.use_backend(backend, floatx="float32"):
            names = runnable(backend) + ([KERAS_STATE] if backend == "jax" else [])
            contenders = {name: make_contender(name, problem, backend, "float32") for name in names}
            times = time_epochs(contenders, task["epochs_timed"], task["seconds"])
        fit_overhead = statistics.median(contenders["highnn"].fit_overheads[1:])  # type: ignore[attr-defined]
        return {"times": times, "check": check, "fit_overhead": fit_overhead}
    with hn.config.use_backend(backend, floatx="float32"):
        if task["kind"] == "memory":
            contender = make_contender(task["contender"], problem, backend, "float32")
            return peak_memory(contender, memory_method(backend))
        return profile_highnn(problem, backend)


def runnable(backend: str) -> list[str]:
    """The contenders that can run on ``backend`` here (Keras where it is installed and can train)."""
    return [name for name in CONTENDERS if name != "keras" or keras_status(backend) is None]


def spawn_worker(task: dict[str, Any]) -> dict[str, Any]:
    """Run a task in a fresh Python process; its result, or ``{"error": ...}`` with the failure's last line."""
    env = dict(os.environ)
    if task["kind"] == "memory":
        env["MALLOC_MMAP_THRESHOLD_"] = str(harness.MMAP_THRESHOLD)
    if task.get("contender") == "keras" or task["kind"] in ("time", "scaling"):
        env["KERAS_BACKEND"] = task["backend"]
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(task)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines() or [f"exit status {completed.returncode}"]
        return {"error": lines[-1]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def backend_unavailable(backend: str) -> str | None:
    """Why highnn cannot run on ``backend`` here (package missing or backend module broken), or None."""
    if backend not in hn.backends.available_backends():
        return f"{backend} is not installed"
    try:
        with hn.config.use_backend(backend):
            pass
    except Exception as error:
        return f"the highnn {backend} backend does not load: {type(error).__name__}: {error}"
    return None


# ------------------------------------------------------------------ report
@dataclasses.dataclass
class Row:
    """Everything measured for one (model, backend) pair."""

    spec: ModelSpec
    backend: str
    skipped: str | None = None
    times: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    check: dict[str, float] = dataclasses.field(default_factory=dict)
    fit_overhead: float = 0.0
    memory: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    memory_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    profile: dict[str, Any] | None = None

    def median(self, contender: str) -> float | None:
        return statistics.median(self.times[contender]) if contender in self.times else None

    def ratio(self, contender: str, statistic: Callable[[list[float]], float] = statistics.median) -> float | None:
        """highnn's epoch time over ``contender``'s, both summarised by ``statistic``."""
        if "highnn" not in self.times or contender not in self.times:
            return None
        return statistic(self.times["highnn"]) / statistic(self.times[contender])

    @property
    def check_failed(self) -> bool:
        return any(diff > CHECK_TOLERANCE for diff in self.check.values())


def measure(spec: ModelSpec, backend: str, epochs_timed: int, profile: bool, seconds: float = 0.0) -> Row:
    """Time, check, and measure the memory of every contender for one (model, backend) pair."""
    row = Row(spec, backend, skipped=backend_unavailable(backend))
    if row.skipped:
        print(f"skipping {spec.name}/{backend}: {row.skipped}", flush=True)
        return row
    task = {"model": spec.name, "backend": backend, "samples": spec.samples}
    print(f"timing {spec.name}/{backend} ...", flush=True)
    result = spawn_worker({**task, "kind": "time", "epochs_timed": epochs_timed, "seconds": seconds})
    if "error" in result:
        row.skipped = f"failed: {result['error']}"
        print(f"  {row.skipped}", flush=True)
        return row
    row.times, row.check, row.fit_overhead = result["times"], result["check"], result["fit_overhead"]
    for contender in CONTENDERS:
        if contender not in row.times:
            continue
        outcome = spawn_worker({**task, "kind": "memory", "contender": contender})
        if "error" in outcome:
            row.memory_errors[contender] = outcome["error"]
        else:
            row.memory[contender] = outcome
    if profile:
        row.profile = spawn_worker({**task, "kind": "profile"})
    return row


def _ms(seconds: float | None) -> str:
    """Milliseconds with three significant digits (whole ones from 100 up)."""
    if seconds is None:
        return "–"
    milliseconds = seconds * 1e3
    return f"{milliseconds:.0f}" if milliseconds >= 100 else f"{milliseconds:.3g}"


def _times(row: Row, contender: str) -> str:
    if contender == "keras" and "keras" not in row.times:
        return keras_status(row.backend) or "–"
    return _ms(row.median(contender))


def _ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "–"


def _mebibytes(row: Row, contender: str, span: str) -> str:
    """A contender's peak memory (``span``: epoch or call) in MiB, or why it is missing."""
    if contender in row.memory:
        return f"{row.memory[contender][span] / 2**20:.3g}"
    return f"failed: {row.memory_errors[contender]}" if contender in row.memory_errors else "–"


TABLE_HEADER = (
    "| model | backend | highnn ms/epoch | hand-written ms | Keras 3 ms | highnn / hand | target | met | "
    "highnn / hand, fastest epochs | highnn / hand + Keras state | "
    "highnn / Keras | GEMM limit ms | highnn / limit | epoch peak MiB highnn / hand / Keras (method) | "
    "highnn fit() call peak MiB | float64 max diff highnn (hand) |"
)


def table_row(row: Row, rate: float) -> str:
    """One Markdown table row (also printed to the console)."""
    target = TARGETS.get((row.spec.name, row.backend))
    if row.skipped:
        cells = [row.spec.name, row.backend, f"skipped: {row.skipped}"] + ["–"] * 13
        return "| " + " | ".join(cells) + " |"
    limit = row.spec.epoch_flops() / rate
    ratio = row.ratio("hand-written")
    memory = " / ".join(_mebibytes(row, c, "epoch") for c in CONTENDERS) + f" ({memory_method(row.backend)})"
    check = f"{row.check['highnn']:.1e}" + (
        f" ({row.check['hand-written']:.1e})" if "hand-written" in row.check else ""
    )
    cells = [
        row.spec.name, row.backend, _times(row, "highnn"), _times(row, "hand-written"), _times(row, "keras"),
        _ratio(ratio), f"≤ {target:.2f}" if target else "–",
        ("yes" if ratio <= target else "no") if ratio is not None and target else "–",
        _ratio(row.ratio("hand-written", min)), _ratio(row.ratio(KERAS_STATE)),
        _ratio(row.ratio("keras")), _ms(limit), _ratio(row.median("highnn") / limit), memory,
        _mebibytes(row, "highnn", "call"), check + (" FAIL" if row.check_failed else ""),
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def environment(rate: float) -> list[str]:
    """Lines naming the machine and the library versions."""
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}", f"highnn {hn.__version__}"]
    for package in ("torch", "jax", "keras"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} not installed")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return [
        f"- machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
        f"- versions: {', '.join(versions)}",
        f"- NumPy float32 GEMM rate (best 1024x1024 product, before and after the timings): {rate / 1e9:.1f} GFLOP/s",
        f"- load average (1, 5, 15 min) when written: {', '.join(f'{load:.2f}' for load in os.getloadavg())}",
    ]


def report(rows: list[Row], rate: float, command: str, epochs_timed: int, seconds: float = 0.0) -> str:
    """The results as Markdown: environment, main table, epoch times, profiles."""
    lines = [
        "# highnn fit() benchmark", "",
        f"Command: `{command}`", "",
        *environment(rate), "",
        (f"Median of at least {epochs_timed} timed epochs after one warm-up epoch, more until a row's rounds took "
         f"{seconds:g} s; the contenders take turns epoch by epoch, each following every other equally often."),
        "Ratios are of medians, except \"fastest epochs\" "
        "(of minimums: the least disturbed epochs, telling under bursty load).",
        "The GEMM limit is the epoch's matrix-product FLOPs at the GEMM rate above.",
        ("Peak memory: the peak above the starting point during one epoch (and, last column, during a whole "
         "fit(epochs=1) call, setup included), each contender in a fresh process; tracemalloc on NumPy, "
         "the resident-set high-water mark otherwise."),
        "", TABLE_HEADER, "|" + "---|" * TABLE_HEADER.count(" | ") + "---|",
        *(table_row(row, rate) for row in rows), "",
        "## Epoch times (ms)", "",
        "| model | backend | contender | epochs | fastest | quartiles | slowest | fit() setup ms |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in rows:
        for contender, times in row.times.items():
            setup = _ms(row.fit_overhead) if contender == "highnn" else ""
            quartiles = " / ".join(_ms(q) for q in statistics.quantiles(times, n=4)) if len(times) > 1 else ""
            lines.append(
                f"| {row.spec.name} | {row.backend} | {contender} | {len(times)} | {_ms(min(times))} | {quartiles} | "
                f"{_ms(max(times))} | {setup} |"
            )
    for row in rows:
        if row.profile:
            lines += ["", *profile_section(row)]
    return "\n".join(lines) + "\n"


def profile_section(row: Row) -> list[str]:
    """The --profile results of one row as Markdown."""
    profile = row.profile or {}
    title = f"## Where highnn's time goes: {row.spec.name} on {row.backend}"
    if "error" in profile:
        return [title, "", f"profiling failed: {profile['error']}"]
    lines = [
        title,
        "",
        f"Unprofiled, best of 5, µs per step (the program has {profile['program_ops']} operations per step):",
        "",
    ]
    lines += ["| what | µs/step |", "|---|---|"] + [
        f"| {name} | {us:.0f} |" for name, us in profile["per_step_us"].items()
    ]
    lines += [
        "",
        ("cProfile of one fit epoch, own time per group. The profiler inflates Python-heavy parts, and C callees "
         "it cannot see (NumPy ufuncs, a jax.jit call) count in their caller's row:"),
        "",
    ]  # fmt: skip
    lines += ["| group | share |", "|---|---|"] + [
        f"| {group} | {share:.0%} |" for group, share in profile["profile_groups"].items()
    ]
    lines += ["", "Top functions by own time:", "", "| function | calls/step | own µs/step |", "|---|---|---|"]
    lines += [f"| `{name}` | {calls} | {us:.1f} |" for name, calls, us in profile["profile_top"]]
    return lines


# --------------------------------------------------------------------- CLI
def parse_list(text: str, allowed: Sequence[str], argument: str) -> list[str]:
    """A comma-separated list whose items must all be in ``allowed``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"{argument} must be a comma-separated list of {', '.join(allowed)}; received {text!r}."
        )
    return items


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, received {text!r}.")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, received {text!r}.")
    return value


# ------------------------------------------------------------------ scaling
#: the MLPs ``--scaling`` times, per axis: (label, layer sizes, batch size); one axis grows, the others stay medium
SCALING: dict[str, list[tuple[str, tuple[int, ...], int]]] = {
    "width": [(f"width {w}", (784, w, w, 10), 128) for w in (64, 256, 1024, 4096)],
    "depth": [(f"depth {d}", (784, *[512] * d, 10), 128) for d in (2, 4, 8, 16)],
    "batch": [(f"batch {b}", (784, 512, 512, 10), b) for b in (16, 64, 256, 1024, 4096)],
}
SCALING_SAMPLES = 8192
SCALING_HEADER = (
    "| axis | model | backend | highnn ms | hand-written ms | Keras 3 ms | highnn / hand-written | highnn / Keras |\n"
    "|---|---|---|---|---|---|---|---|"
)


def scaling_report(axes: Sequence[str], backends: Sequence[str], samples: int, epochs_timed: int) -> str:
    """Median epoch times (``samples`` examples) as the MLP grows along ``axes``, one worker per cell."""
    lines = [SCALING_HEADER]
    for axis in axes:
        for label, sizes, batch_size in SCALING[axis]:
            for backend in backends:
                if backend_unavailable(backend):
                    continue
                print(f"timing {label} on {backend} ...", flush=True)
                task = {"kind": "scaling", "model": label, "sizes": sizes, "batch_size": batch_size,
                        "samples": samples, "backend": backend, "epochs_timed": epochs_timed}  # fmt: skip
                result = spawn_worker(task)
                if "error" in result:
                    lines.append(f"| {axis} | {label} | {backend} | failed: {result['error']} |||||")
                    continue
                row = Row(ModelSpec(label, sizes, batch_size, samples), backend, times=result["times"])
                medians = [_ms(row.median(name)) for name in CONTENDERS]
                ratios = [_ratio(row.ratio(name)) for name in ("hand-written", "keras")]
                lines.append(f"| {axis} | {label} | {backend} | " + " | ".join(medians + ratios) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models",
        default="medium,tiny",
        type=lambda t: parse_list(t, tuple(MODELS), "--models"),
        help="comma-separated: medium (784-512-512-10, batch 128), tiny (64-64-10, batch 32)",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        type=lambda t: parse_list(t, BACKENDS, "--backends"),
        help="comma-separated highnn backends",
    )
    parser.add_argument(
        "--epochs-timed", default=5, type=positive_int, help="timed epochs per contender (median reported)"
    )
    parser.add_argument(
        "--seconds",
        default=10.0,
        type=non_negative_float,
        help="least time a row's timed rounds take: more rounds than --epochs-timed for a fast row (default 10)",
    )
    parser.add_argument("--samples", type=positive_int, help="training examples (default: 10,240 medium, 4,096 tiny)")
    parser.add_argument("--output", default="benchmarks/results/results.md", type=Path, help="Markdown file to write")
    parser.add_argument(
        "--profile", action="store_true", help="also break highnn's epoch time down (ablations, cProfile)"
    )
    parser.add_argument(
        "--scaling",
        type=lambda t: parse_list(t, tuple(SCALING), "--scaling"),
        help="instead: epoch times as the MLP grows along these axes (comma-separated: width, depth, batch)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when a float64 cross-check fails."""
    args = build_parser().parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(json.loads(args.worker))))
        return 0
    command = " ".join(["python", "benchmarks/bench_fit.py", *(argv if argv is not None else sys.argv[1:])])
    if args.scaling:
        markdown = scaling_report(args.scaling, args.backends, args.samples or SCALING_SAMPLES, args.epochs_timed)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(f"`{command}`\n\n" + markdown)
        print(markdown + f"\nwritten to {args.output}")
        return 0
    first_rate = gemm_rate()
    print("\n".join(environment(first_rate)), flush=True)
    specs = [dataclasses.replace(MODELS[name], samples=args.samples or MODELS[name].samples) for name in args.models]
    rows = [
        measure(spec, backend, args.epochs_timed, args.profile, args.seconds)
        for spec in specs
        for backend in args.backends
    ]
    rate = max(first_rate, gemm_rate())
    markdown = report(rows, rate, command, args.epochs_timed, args.seconds)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown)
    print("\n" + TABLE_HEADER + "\n" + "\n".join(table_row(row, rate) for row in rows))
    for row in rows:
        if row.check:
            hand = row.check.get("hand-written")
            against_hand = "" if hand is None else f", max |hand-written {row.backend} - NumPy loop| = {hand:.2e}"
            print(
                f"float64 cross-check {row.spec.name}/{row.backend}: "
                f"max |highnn - NumPy loop| = {row.check['highnn']:.2e}{against_hand}"
            )
    print(f"\nwritten to {args.output}")
    return 1 if any(row.check_failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
