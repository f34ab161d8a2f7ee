"""Time an LSTM training step: highnn's ``fit()`` against hand-written PyTorch and JAX loops and Keras 3.

    python benchmarks/bench_lstm.py                    # LSTM(128), 50 steps, batch 64, every installed backend
    python benchmarks/bench_lstm.py --batches 2 --rounds 1 --backends numpy --no-memory   # a smoke run

The model is ``LSTM(units)`` over ``(batch, timesteps, features)`` inputs, then
``Dense(1)`` with mean squared error and plain SGD. The references, from the
same initial weights: a PyTorch loop over an LSTM cell written out in Keras's
gate order with autograd, ``jax.jit(jax.value_and_grad)`` of a ``jax.lax.scan`` over the
same cell (the input product in the step, as Keras has it), and Keras 3's
``fit()`` on each backend.
Each library's contenders run in a process of their own, where they take
turns, one epoch each per round (after a warm-up epoch); the median epoch is
reported with its ratio to the hand-written loop on the same library (on
NumPy, the PyTorch loop's). Peak memory is what
two epochs add to a contender's resident set after its warm-up, each
contender in a fresh process (the resident set sees torch's CPU allocations,
which ``tracemalloc`` does not).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
from collections.abc import Callable
from typing import Any

import harness
import numpy as np

import highnn as hn
from highnn import layers

LEARNING_RATE = 0.01


def make_data(batches: int, batch: int, timesteps: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batches * batch, timesteps, features)).astype(np.float32)
    return x, rng.normal(size=(batches * batch, 1)).astype(np.float32)


def highnn_epoch(
    backend: str, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int
) -> Callable[[], Any]:
    """One ``fit`` epoch on ``backend`` from ``weights``."""
    with hn.config.use_backend(backend, floatx="float32"):
        model = hn.Sequential([hn.Input(x.shape[1:]), layers.LSTM(weights[1].shape[0]), layers.Dense(1)])
        model.set_weights(weights)
        model.compile(optimizer=hn.optimizers.SGD(LEARNING_RATE), loss="mse")

    def epoch() -> None:
        with hn.config.use_backend(backend, floatx="float32"):
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    return epoch


def torch_epoch(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Callable[[], Any]:
    """A hand-written LSTM cell loop with torch.autograd."""
    import torch

    params = [torch.tensor(w, requires_grad=True) for w in weights]
    xs, ys = torch.tensor(x), torch.tensor(y)

    def loss_of(xb: Any, yb: Any) -> Any:
        kernel, recurrent, bias, dense, dense_bias = params
        units = recurrent.shape[0]
        projected = xb @ kernel + bias
        h = torch.zeros(xb.shape[0], units)
        c = torch.zeros_like(h)
        for t in range(xb.shape[1]):
            i, f, g, o = (projected[:, t] + h @ recurrent).split(units, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
        return ((h @ dense + dense_bias - yb) ** 2).mean()

    def epoch() -> None:
        for start in range(0, len(xs), batch):
            grads = torch.autograd.grad(loss_of(xs[start : start + batch], ys[start : start + batch]), params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= LEARNING_RATE * g

    return epoch


def jax_epoch(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Callable[[], Any]:
    """``jax.jit(value_and_grad)`` of a ``jax.lax.scan`` over the same cell, with the SGD update in the jit and the
    parameters donated. Each step multiplies its own input by the kernel: on a CPU, XLA runs that faster than one
    product for every step hoisted out of the loop (the loop would then read its slice of that product inside fused
    element-wise code, which XLA compiles to scalar code)."""
    import jax
    import jax.numpy as jnp

    def loss_of(params: list[Any], xb: Any, yb: Any) -> Any:
        kernel, recurrent, bias, dense, dense_bias = params
        units = recurrent.shape[0]

        def step(carry: tuple[Any, Any], x_t: Any) -> tuple[tuple[Any, Any], None]:
            h, c = carry
            i, f, g, o = jnp.split(x_t @ kernel + h @ recurrent + bias, 4, axis=1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            return (jax.nn.sigmoid(o) * jnp.tanh(c), c), None

        zeros = jnp.zeros((xb.shape[0], units), xb.dtype)
        (h, _), _ = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xb, 0, 1))
        return jnp.mean((h @ dense + dense_bias - yb) ** 2)

    @functools.partial(jax.jit, donate_argnums=0)
    def train_step(params: list[Any], xb: Any, yb: Any) -> list[Any]:
        _, grads = jax.value_and_grad(loss_of)(params, xb, yb)
        return [p - LEARNING_RATE * g for p, g in zip(params, grads)]

    state = {"params": [jnp.asarray(w) for w in weights]}

    def epoch() -> None:
        params = state["params"]
        for start in range(0, len(x), batch):
            params = train_step(params, x[start : start + batch], y[start : start + batch])
        jax.block_until_ready(params)
        state["params"] = params

    return epoch


def keras_epoch(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray, batch: int) -> Callable[[], Any]:
    """Keras 3's ``fit()`` on the backend ``KERAS_BACKEND`` names (set before this process imported Keras)."""
    import keras

    model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.LSTM(weights[1].shape[0]), keras.layers.Dense(1)])
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), loss="mse")

    def epoch() -> None:
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    return epoch


def contenders(backends: list[str]) -> list[str]:
    """``highnn-<backend>`` for each installed backend, the hand-written loops, and Keras 3 where it is installed."""
    installed = [b for b in backends if importlib.util.find_spec(b)]
    names = [f"highnn-{b}" for b in installed] + [f"loop-{b}" for b in ("torch", "jax") if b in installed]
    if importlib.util.find_spec("keras"):
        names += [f"keras-{b}" for b in ("torch", "jax") if b in installed]
    return names


def make_epoch(name: str, args: argparse.Namespace) -> Callable[[], Any]:
    x, y = make_data(args.batches, args.batch, args.timesteps, args.features)
    hn.utils.set_random_seed(0)
    template = hn.Sequential([hn.Input(x.shape[1:]), layers.LSTM(args.units), layers.Dense(1)])
    weights = [w.astype(np.float32) for w in template.get_weights()]
    kind, backend = name.split("-")
    if kind == "highnn":
        return highnn_epoch(backend, weights, x, y, args.batch)
    if kind == "keras":
        if os.environ.get("KERAS_BACKEND") != backend:
            raise ValueError(f"{name} runs in a process started with KERAS_BACKEND={backend}")
        return keras_epoch(weights, x, y, args.batch)
    return (torch_epoch if backend == "torch" else jax_epoch)(weights, x, y, args.batch)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--timesteps", type=int, default=50)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=16, help="batches per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per contender")
    parser.add_argument("--backends", default="numpy,torch,jax")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # a child process: time these contenders, print JSON
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # a child process: one contender's peak memory
    args = parser.parse_args(argv)
    sizes = [f"--{key}={getattr(args, key)}" for key in ("units", "timesteps", "features", "batch", "batches")]
    if args.memory_of:
        print(json.dumps(harness.peak_growth_mib(make_epoch(args.memory_of, args))))
        return {}
    if args.only:
        medians = harness.interleaved_medians({n: make_epoch(n, args) for n in args.only.split(",")}, args.rounds)
        print(json.dumps(medians))
        return {}

    results = harness.side_by_side(
        __file__, contenders(args.backends.split(",")), [*sizes, f"--rounds={args.rounds}"], not args.no_memory
    )
    print(f"LSTM({args.units}), {args.timesteps} steps, batch {args.batch}, {args.batches} batches per epoch")
    print(report(results, args.batches))
    return results


def report(results: dict[str, dict[str, float]], batches: int) -> str:
    """A Markdown table: time per step, ratio to the hand-written loop on the same library, peak resident set."""
    lines = ["| contender | ms per step | vs hand-written loop | training peak RSS (MiB) |", "|---|---|---|---|"]
    for name, result in results.items():
        ratio = f"{result['vs_loop']:.2f}x" if "vs_loop" in result else ""
        memory = f"{result['peak_mib']:.0f}" if "peak_mib" in result else ""
        lines.append(f"| {name} | {result['median_s'] * 1e3 / batches:.2f} | {ratio} | {memory} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
