"""Time an LSTM training step: highnn's ``fit()`` against hand-written PyTorch and JAX loops.

    python benchmarks/bench_lstm.py                    # LSTM(128), 50 steps, batch 64, every installed backend
    python benchmarks/bench_lstm.py --batches 2 --rounds 1 --backends numpy   # a smoke run

The model is ``LSTM(units)`` over ``(batch, timesteps, features)`` inputs, then
``Dense(1)`` with mean squared error and plain SGD. The references, from the
same initial weights: a PyTorch loop over an LSTM cell written out in Keras's
gate order with autograd, and ``jax.jit(jax.value_and_grad)`` of a
``jax.lax.scan`` over the same cell. The contenders take turns, one epoch
each per round (after a warm-up epoch), and the median epoch is reported
with its ratio to the fastest hand-written loop on the same library.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

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
    """``jax.jit(value_and_grad)`` of a ``lax.scan`` over the same cell, with the SGD update in the jit."""
    import jax
    import jax.numpy as jnp

    def loss_of(params: list[Any], xb: Any, yb: Any) -> Any:
        kernel, recurrent, bias, dense, dense_bias = params
        units = recurrent.shape[0]

        def step(carry: tuple[Any, Any], z_t: Any) -> tuple[tuple[Any, Any], None]:
            h, c = carry
            i, f, g, o = jnp.split(z_t + h @ recurrent, 4, axis=1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            return (jax.nn.sigmoid(o) * jnp.tanh(c), c), None

        zeros = jnp.zeros((xb.shape[0], units), xb.dtype)
        (h, _), _ = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xb @ kernel + bias, 0, 1))
        return jnp.mean((h @ dense + dense_bias - yb) ** 2)

    @jax.jit
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


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--timesteps", type=int, default=50)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=16, help="batches per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per contender")
    parser.add_argument("--backends", default="numpy,torch,jax")
    args = parser.parse_args(argv)

    x, y = make_data(args.batches, args.batch, args.timesteps, args.features)
    hn.utils.set_random_seed(0)
    template = hn.Sequential([hn.Input(x.shape[1:]), layers.LSTM(args.units), layers.Dense(1)])
    weights = [w.astype(np.float32) for w in template.get_weights()]

    contenders: dict[str, Callable[[], Any]] = {}
    for backend in args.backends.split(","):
        if importlib.util.find_spec(backend) is None:
            print(f"skipped highnn-{backend}: {backend} is not installed")
            continue
        contenders[f"highnn-{backend}"] = highnn_epoch(backend, weights, x, y, args.batch)
        if backend == "torch":
            contenders["hand-written torch"] = torch_epoch(weights, x, y, args.batch)
        if backend == "jax":
            contenders["hand-written jax"] = jax_epoch(weights, x, y, args.batch)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for epoch in contenders.values():  # warm-up: tracing and compiling
        epoch()
    for _ in range(args.rounds):  # interleaved, so machine noise hits every contender alike
        for name, epoch in contenders.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    references = {"torch": medians.get("hand-written torch"), "jax": medians.get("hand-written jax")}
    print(f"LSTM({args.units}), {args.timesteps} steps, batch {args.batch}, {args.batches} batches per epoch")
    for name, seconds in medians.items():
        library = name.rsplit("-", 1)[-1] if name.startswith("highnn") else name.split()[-1]
        reference = references.get(library)
        ratio = (
            f"  {seconds / reference:5.2f}x the hand-written loop" if reference and name.startswith("highnn") else ""
        )
        print(f"{name:20s} {seconds * 1000 / args.batches:9.2f} ms/step{ratio}")
    return medians


if __name__ == "__main__":
    main()
