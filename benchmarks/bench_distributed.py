"""What DataParallel costs per step on JAX's forced CPU devices, against plain fit(), and what its all-reduce costs.

    python benchmarks/bench_distributed.py --devices 4 --steps 50 --rounds 5

A worker process (``XLA_FLAGS=--xla_force_host_platform_device_count=N``, ``HIGHNN_BACKEND=jax``) times one
epoch of ``--steps`` steps of an MLP, alternating plain ``fit()`` on one device and ``fit()`` under
``DataParallel`` over N devices, and an all-reduce of the model's gradient size over the same devices; the table
gives medians and their ratios. Forced CPU devices share the host's cores, so these numbers show overhead
(sharded dispatch, the collective's rendezvous), never scaling: on N GPUs the per-step compute shrinks about N
times while the all-reduce of the gradients (NCCL) is what remains to pay.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

TABLE_HEADER = (
    "| devices | plain step (ms) | DataParallel step (ms) | ratio | all-reduce (ms) | all-reduce / plain step |"
)


def _median_ms(run: Callable[[], object], rounds: int, per: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000 / per)
    return statistics.median(times)


def worker(steps: int, rounds: int, batch_size: int, width: int) -> dict[str, float]:
    """The timings, in the worker process (JAX sees the forced devices)."""
    import jax

    import highnn as hn

    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch_size, width)).astype("float32")
    y = rng.integers(0, 10, size=len(x))

    def model() -> hn.Model:
        hn.utils.set_random_seed(0)
        built = hn.Sequential([hn.Input((width,)), hn.layers.Dense(width, activation="relu"), hn.layers.Dense(10)])
        built.compile(optimizer="sgd", loss=hn.losses.SparseCategoricalCrossentropy(from_logits=True))
        return built

    plain = model()
    plain.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # traces and compiles
    data_parallel = hn.distribution.DataParallel()  # one object: the compiled steps are cached per distribution
    with data_parallel.scope():
        distributed = model()
        distributed.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    timings: dict[str, list[float]] = {"plain": [], "distributed": []}
    for _ in range(rounds):  # alternate, so slow drifts of the machine hit both alike
        timings["plain"].append(_median_ms(lambda: plain.fit(x, y, batch_size=batch_size, verbose=0), 1, steps))
        with data_parallel.scope():
            timings["distributed"].append(
                _median_ms(lambda: distributed.fit(x, y, batch_size=batch_size, verbose=0), 1, steps)
            )
    devices = jax.devices()
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    parameters = sum(int(np.prod(w.shape)) for w in plain.weights)
    shards = jax.device_put(
        np.ones((len(devices), parameters), "float32"),
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch")),
    )
    total = jax.jit(
        lambda a: a.sum(axis=0), out_shardings=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    )
    total(shards).block_until_ready()
    all_reduce = _median_ms(lambda: [total(shards).block_until_ready() for _ in range(steps)], rounds, steps)
    return {
        "devices": len(devices),
        "plain": statistics.median(timings["plain"]),
        "distributed": statistics.median(timings["distributed"]),
        "all_reduce": all_reduce,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed epoch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.steps, args.rounds, args.batch_size, args.width)))
        return 0
    command = [sys.executable, __file__, "--worker", *(argv if argv is not None else sys.argv[1:])]
    environment = {
        **os.environ,
        "HIGHNN_BACKEND": "jax",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={args.devices}",
    }
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=1800)
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return result.returncode
    r = json.loads(result.stdout.splitlines()[-1])
    print(TABLE_HEADER)
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| {r['devices']} | {r['plain']:.3g} | {r['distributed']:.3g} | {r['distributed'] / r['plain']:.2f} "
        f"| {r['all_reduce']:.3g} | {r['all_reduce'] / r['plain']:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
