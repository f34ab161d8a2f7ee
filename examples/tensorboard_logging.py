"""Watch training: TensorBoard event files and a plot of the history (needs highnn[tensorboard,plotting]).

python examples/tensorboard_logging.py [log_dir]    # default: a new temporary directory
tensorboard --logdir <the printed log_dir>
"""

import sys
import tempfile
from pathlib import Path

import matplotlib
import numpy as np

import highnn as hn
from highnn import layers
from highnn.callbacks.tensorboard import TensorBoard
from highnn.plotting import plot_history


def main(log_dir: Path) -> None:
    # Two noisy concentric rings: inner ring class 0, outer ring class 1.
    rng = np.random.default_rng(0)
    radius = np.repeat([1.0, 2.0], 500) + 0.25 * rng.normal(size=1000)
    angle = rng.uniform(0, 2 * np.pi, size=1000)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    y = np.repeat([0, 1], 500)

    hn.utils.set_random_seed(0)
    model = hn.Sequential(
        [hn.Input(shape=(2,)), layers.Dense(16, activation="relu"), layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer=hn.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    board = TensorBoard(log_dir, histogram_freq=1, update_freq=5)
    history = model.fit(x, y, batch_size=32, epochs=10, validation_split=0.2, callbacks=[board], verbose=0)

    matplotlib.use("Agg")  # draw into the file only, no window
    plot_history(history, to_file=log_dir / "history.png")
    print(f"final validation accuracy: {history.history['val_accuracy'][-1]:.3f}")
    print(f"TensorBoard runs written to {log_dir} (train/, validation/): tensorboard --logdir {log_dir}")
    print(f"training curves written to {log_dir / 'history.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="highnn-logs-")))
