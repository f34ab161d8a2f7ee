"""Time a training epoch of a LeNet-style CNN: highnn's ``fit()`` against hand-written PyTorch and JAX loops.

    python benchmarks/bench_cnn.py --backends numpy,torch,jax --epochs-timed 5 --samples 4096

The network (28x28x1 inputs, batch 128): Conv2D(6, 5, relu) -> Conv2D(16, 5,
strides=2, relu) -> Flatten -> Dense(120, relu) -> Dense(84, relu) -> Dense(10)
logits, sparse categorical crossentropy from logits, plain SGD (learning rate
0.01), on random data, every contender from the same initial weights (drawn
once in NumPy). Each library's contenders (highnn, the hand-written loop, Keras 3)
run in a process of their own, where after one warm-up epoch they take turns, one
epoch each, ``--epochs-timed`` rounds, so the machine's drifts hit them alike; the
table reports each one's median epoch and its ratio to the hand-written loop on
the same array library (highnn on NumPy is compared with the PyTorch loop's median).
Peak memory is what two epochs add to a contender's resident set after its warm-up, in a fresh process
(the resident set sees torch's CPU allocations, which ``tracemalloc`` does not).

- highnn: ``model.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0)``;
- torch: ``F.conv2d``/``F.linear`` with autograd, ``param -= lr * grad`` under ``no_grad``;
- jax: ``jax.jit`` of a ``jax.value_and_grad`` step with ``lax.conv_general_dilated``;
- Keras 3 on each backend, when ``keras`` is importable.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import harness
import numpy as np

import highnn as hn
from highnn import layers

BATCH = 128
LEARNING_RATE = 0.01
#: (kind, shape, strides): the network's weights in Keras's layout, in order
ARCHITECTURE = [("conv", (5, 5, 1, 6), 1), ("conv", (5, 5, 6, 16), 2), ("dense", (1600, 120), 0),
                ("dense", (120, 84), 0), ("dense", (84, 10), 0)]  # fmt: skip
BACKENDS = ("numpy", "torch", "jax")

Epoch = Callable[[], None]


def problem(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Random images and labels, and Glorot-uniform weights with small random biases."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, samples)
    weights = []
    for _, shape, _ in ARCHITECTURE:
        fan_in, fan_out = int(np.prod(shape[:-1])), shape[-1] * int(np.prod(shape[:-2]))
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        weights += [rng.uniform(-limit, limit, shape).astype("float32"), rng.uniform(-0.1, 0.1, shape[-1])]
    return x, y, [w.astype("float32") for w in weights]


def highnn_model() -> hn.Sequential:
    return hn.Sequential([
        hn.Input((28, 28, 1)),
        layers.Conv2D(6, 5, activation="relu"),
        layers.Conv2D(16, 5, strides=2, activation="relu"),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dense(84, activation="relu"),
        layers.Dense(10),
    ])  # fmt: skip


def highnn_epoch(backend: str, x: np.ndarray, y: np.ndarray, weights: list[np.ndarray]) -> Epoch:
    with hn.config.use_backend(backend):
        model = highnn_model()
        model.set_weights(weights)
        loss = hn.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=hn.optimizers.SGD(LEARNING_RATE), loss=loss)

    def epoch() -> None:
        with hn.config.use_backend(backend):
            model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    return epoch


def torch_epoch(x: np.ndarray, y: np.ndarray, weights: list[np.ndarray]) -> Epoch:
    import torch
    import torch.nn.functional as F

    params = [torch.tensor(w, requires_grad=True) for w in weights]
    images = torch.tensor(x).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(y)

    def forward(batch: Any) -> Any:
        h = batch
        for index, (kind, _, stride) in enumerate(ARCHITECTURE):
            kernel, bias = params[2 * index], params[2 * index + 1]
            if kind == "conv":
                h = F.relu(F.conv2d(h, kernel.permute(3, 2, 0, 1), bias, stride))
            else:
                h = h.permute(0, 2, 3, 1).flatten(1) if h.ndim == 4 else h  # Flatten in channels-last order
                h = h @ kernel + bias
                h = F.relu(h) if index < len(ARCHITECTURE) - 1 else h
        return h

    def epoch() -> None:
        for start in range(0, len(images), BATCH):
            loss = F.cross_entropy(forward(images[start : start + BATCH]), labels[start : start + BATCH])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    p -= LEARNING_RATE * g

    return epoch


def jax_epoch(x: np.ndarray, y: np.ndarray, weights: list[np.ndarray]) -> Epoch:
    import jax
    import jax.numpy as jnp

    state = {"params": [jnp.asarray(w) for w in weights]}

    def loss_of(params: list[Any], batch: Any, labels: Any) -> Any:
        h = batch
        for index, (kind, _, stride) in enumerate(ARCHITECTURE):
            kernel, bias = params[2 * index], params[2 * index + 1]
            if kind == "conv":
                h = jax.lax.conv_general_dilated(h, kernel, (stride, stride), "VALID",
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))  # fmt: skip
                h = jax.nn.relu(h + bias)
            else:
                h = h.reshape(h.shape[0], -1) @ kernel + bias
                h = jax.nn.relu(h) if index < len(ARCHITECTURE) - 1 else h
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), labels[:, None], axis=1))

    @functools.partial(jax.jit, donate_argnums=0)  # the old parameters' buffers hold the new ones
    def step(params: list[Any], batch: Any, labels: Any) -> tuple[list[Any], Any]:
        loss, grads = jax.value_and_grad(loss_of)(params, batch, labels)
        return [p - LEARNING_RATE * g for p, g in zip(params, grads)], loss

    def epoch() -> None:
        for start in range(0, len(x), BATCH):
            state["params"], loss = step(state["params"], x[start : start + BATCH], y[start : start + BATCH])
        loss.block_until_ready()

    return epoch


def keras_epoch(x: np.ndarray, y: np.ndarray, weights: list[np.ndarray]) -> Epoch:
    """Keras 3's ``fit()`` on the backend ``KERAS_BACKEND`` names (set before this process imported Keras)."""
    import keras

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, 5, activation="relu"),
        keras.layers.Conv2D(16, 5, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="relu"),
        keras.layers.Dense(84, activation="relu"),
        keras.layers.Dense(10),
    ])  # fmt: skip
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip

    def epoch() -> None:
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)

    return epoch


def contenders(backends: Sequence[str]) -> list[str]:
    """``highnn-<backend>`` for each backend, the hand-written loops whose library is there, and Keras."""
    names = [f"highnn-{b}" for b in backends]
    names += [f"loop-{b}" for b in ("torch", "jax") if importlib.util.find_spec(b)]
    if importlib.util.find_spec("keras"):
        names += [f"keras-{b}" for b in backends if b != "numpy"]
    return names


def make_epoch(name: str, samples: int) -> Epoch:
    x, y, weights = problem(samples)
    kind, backend = name.split("-")
    if kind == "highnn":
        return highnn_epoch(backend, x, y, weights)
    if kind == "keras":
        return keras_epoch(x, y, weights)
    return torch_epoch(x, y, weights) if backend == "torch" else jax_epoch(x, y, weights)


def run(backends: Sequence[str], samples: int, epochs_timed: int, memory: bool) -> dict[str, dict[str, float]]:
    """Interleaved epoch times (medians, seconds), ratios to the hand-written loops and peak memory (MiB)."""
    arguments = [f"--samples={samples}", f"--epochs-timed={epochs_timed}"]
    return harness.side_by_side(__file__, contenders(backends), arguments, memory)


def report(results: dict[str, dict[str, float]]) -> str:
    lines = ["| contender | epoch (ms) | vs hand-written loop | training peak RSS (MiB) |", "|---|---|---|---|"]
    for name, result in results.items():
        ratio = f"{result['vs_loop']:.2f}x" if "vs_loop" in result else ""
        memory = f"{result['peak_mib']:.0f}" if "peak_mib" in result else ""
        lines.append(f"| {name} | {result['median_s'] * 1e3:.1f} | {ratio} | {memory} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS), help="highnn backends, comma-separated")
    parser.add_argument("--samples", type=int, default=4096, help="training examples (batches of 128)")
    parser.add_argument("--epochs-timed", type=int, default=5, help="timed rounds after one warm-up epoch")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # a child process: time these contenders, print JSON
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # a child process: one contender's peak memory
    args = parser.parse_args(argv)
    if args.memory_of:
        print(json.dumps(harness.peak_growth_mib(make_epoch(args.memory_of, args.samples))))
        return 0
    if args.only:
        epochs = {name: make_epoch(name, args.samples) for name in args.only.split(",")}
        print(json.dumps(harness.interleaved_medians(epochs, args.epochs_timed)))
        return 0
    backends = [b for b in args.backends.split(",") if importlib.util.find_spec(b)]
    results = run(backends, args.samples, args.epochs_timed, not args.no_memory)
    print(json.dumps(results, indent=2) if args.json else report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
