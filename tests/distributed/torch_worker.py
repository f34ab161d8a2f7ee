"""One process of the torch DataParallel tests: ``python torch_worker.py OUT_DIR SCENARIO...``, alone or under torchrun.

Alone it is the one-process reference; under torchrun (``RANK`` set) it joins the job and sets
``DataParallel``, its models built before. For each scenario, each process saves its weights, History,
``evaluate()`` and ``predict()`` to ``OUT_DIR/SCENARIO.<rank>.npz``. Runs with ``HIGHNN_BACKEND=torch`` and
``HIGHNN_FLOATX=float64``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

import highnn as hn
from highnn.batch_share import Share

ROWS, BATCH = 263, 32  # the last batch has 7 rows: 4 + 3 on two processes


def data(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 5))
    y = np.tanh(x @ rng.normal(size=(5, 2))) + 0.1 * rng.normal(size=(rows, 2))
    return x, y


def model(scenario: str) -> hn.Sequential:
    hn.utils.set_random_seed(1)
    middle = {
        "synchronized": [hn.layers.BatchNormalization(synchronized=True)],
        "local_batchnorm": [hn.layers.BatchNormalization()],
    }.get(scenario, [hn.layers.Dropout(0.3, seed=3)])
    layers = [hn.layers.Dense(8, activation="tanh", kernel_regularizer=hn.regularizers.L2(0.01)), *middle]
    built = hn.Sequential([*layers, hn.layers.Dense(2, activity_regularizer=hn.regularizers.L1(0.001))])
    built.compile(optimizer="adam", loss="mse", metrics=["mae"])
    built.build((None, 5))  # built before the distribution is set
    return built


class FailOnProcessOne(hn.callbacks.Callback):
    """Raises on process 1 after the first epoch, while process 0 goes on to the next collective."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if hn.config.settings.backend.process_index() == 1:
            raise RuntimeError("process 1 fails on purpose")


class StopOnProcessOne(hn.callbacks.Callback):
    """Stops training on process 1 alone after the first epoch: every process must stop with it."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if hn.config.settings.backend.process_index() == 1:
            self.model.stop_training = True


def run(out: Path, scenario: str) -> None:
    """Fit, evaluate and predict for ``scenario``; save what this process ends with."""
    rank = hn.config.settings.backend.process_index()
    rows = 257 if scenario == "replicated" else ROWS  # 257: a last batch of one row, fewer than the processes
    x, y = data(rows)
    built = model(scenario)
    if scenario == "mismatch":  # every process raises the same error
        try:
            built.fit(x + rank, y, batch_size=BATCH, verbose=0)
        except ValueError as error:
            print(f"rank {rank}: {error}")
        return
    callbacks = {
        "raises": [FailOnProcessOne()],
        "stops": [StopOnProcessOne()],
        "saves": [  # written by process 0 alone: appending twice would double the rows
            hn.callbacks.CSVLogger(str(out / "log.csv"), append=True),
            hn.callbacks.ModelCheckpoint(str(out / "checkpoint.highnn")),
        ],
    }.get(scenario, [])
    sample_weight = np.linspace(0.5, 1.5, rows) if scenario == "plain" else None
    history = built.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=callbacks, sample_weight=sample_weight)
    evaluated = built.evaluate(x, y, batch_size=BATCH, verbose=0)
    predicted = built.predict(x, batch_size=50, verbose=0)
    if scenario == "saves":
        built.save(out / "model.highnn")
        predicted = hn.models.load_model(out / "model.highnn").predict(x, batch_size=50, verbose=0)
    results = {f"weight_{i}": np.asarray(w) for i, w in enumerate(built.get_weights())}
    results |= {f"history_{k}": np.asarray(v) for k, v in history.history.items()}
    np.savez(out / f"{scenario}.{rank}.npz", evaluate=np.asarray(evaluated), predict=predicted, **results)
    steps = [key for key in built._functions if key[0] != "results"]  # (kind, arity, logs, defer, *shares) a step
    shares = [share for key in steps for share in key[4:]]
    (out / f"{scenario}.{rank}.rows").write_text(
        " ".join(str(rows) for rows in sorted({share.rows for share in shares}))
    )


def main(out: Path, scenarios: list[str]) -> None:
    if "RANK" in os.environ:  # under torchrun: the model is built before the distribution is set
        hn.distribution.initialize()
        hn.distribution.set_distribution(hn.distribution.DataParallel())
    weight = Share.weight
    for scenario in scenarios:
        if scenario == "equal_weights":  # what averaging the processes equally would give
            Share.weight = property(lambda share: 1.0 / share.world)  # type: ignore[assignment, method-assign]
        run(out, scenario)
        Share.weight = weight  # type: ignore[method-assign]


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
