"""Resume an interrupted run: BackupAndRestore continues from the last completed epoch.

The first run is stopped by a simulated crash after epoch 3; the second run, with the
same backup directory, restores weights, optimizer state, epoch counter and random
state, and finishes with exactly the weights of a run that was never interrupted.
"""

import tempfile

import numpy as np
from sklearn.datasets import load_digits

import highnn as hn
from highnn import layers


class Crash(hn.callbacks.Callback):
    """Simulates the process dying at the end of an epoch."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.at_epoch:
            raise KeyboardInterrupt(f"simulated crash after epoch {epoch + 1}")


def train(x: np.ndarray, y: np.ndarray, backup_dir: str | None, crash_at: int | None = None) -> hn.Sequential:
    hn.utils.set_random_seed(0)
    model = hn.Sequential(
        [hn.Input(shape=(64,)), layers.Dense(32, activation="relu"), layers.Dense(10, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [hn.callbacks.BackupAndRestore(backup_dir)] if backup_dir else []
    callbacks += [Crash(crash_at)] if crash_at is not None else []
    model.fit(x, y, batch_size=32, epochs=6, callbacks=callbacks, verbose=0)
    return model


def main() -> float:
    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    with hn.config.use_backend(hn.config.backend(), floatx="float64"):
        uninterrupted = train(x, y, None)
        with tempfile.TemporaryDirectory() as backup_dir:
            try:
                train(x, y, backup_dir, crash_at=2)
            except KeyboardInterrupt as crash:
                print(crash)
            resumed = train(x, y, backup_dir)
        difference = max(float(np.abs(a - b).max()) for a, b in zip(uninterrupted.get_weights(), resumed.get_weights()))
    print(f"largest weight difference between the resumed and the uninterrupted run: {difference:.3g}")
    return difference


if __name__ == "__main__":
    main()
