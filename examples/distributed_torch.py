"""Data-parallel training on torch.distributed: one process per device, each on its share of every batch.

    HIGHNN_BACKEND=torch torchrun --standalone --nproc_per_node=2 examples/distributed_torch.py

Every process runs this same script with the same data; ``batch_size`` is the global batch. The
processes end with the same weights, the ones one process would reach. Run alone (any backend),
``DataParallel`` over the one device changes nothing.
"""

import os

from sklearn.datasets import load_digits

import highnn as hn
from highnn import layers


def main() -> float:
    if "RANK" in os.environ:  # launched by torchrun (or Slurm's srun with torchrun's variables)
        hn.distribution.initialize()
    hn.distribution.set_distribution(hn.distribution.DataParallel())
    x, y = load_digits(return_X_y=True)  # 1,797 images of 8x8 pixels
    x = x / 16.0

    hn.utils.set_random_seed(0)
    model = hn.Sequential([
        hn.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2, seed=1),
        layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], y[:1500], batch_size=64, epochs=5, verbose=0)  # each of 2 processes: 32 rows a step
    _, accuracy = model.evaluate(x[1500:], y[1500:], verbose=0)  # every row counted once
    predictions = model.predict(x[1500:], verbose=0)  # every row, on every process

    backend = hn.config.settings.backend
    rank, world = backend.process_index(), backend.process_count()
    print(f"process {rank} of {world}: test accuracy {accuracy:.3f}, {len(predictions)} predictions")
    return float(accuracy)


if __name__ == "__main__":
    main()
