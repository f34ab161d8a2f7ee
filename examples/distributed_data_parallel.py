"""Train a digit classifier data-parallel over every device, and check it against one device.

``batch_size`` is the global batch: each step splits it over the devices and
sums the gradients, so the weights match a run on one device. On NumPy there is
one device and the distribution changes nothing; on JAX, try several CPU devices:

    python examples/distributed_data_parallel.py
    XLA_FLAGS=--xla_force_host_platform_device_count=4 HIGHNN_BACKEND=jax python examples/distributed_data_parallel.py
"""

import numpy as np
from sklearn.datasets import load_digits

import highnn as hn
from highnn import layers


def train(x: np.ndarray, y: np.ndarray, distribution: hn.distribution.Distribution | None) -> hn.Model:
    hn.distribution.set_distribution(distribution)
    hn.utils.set_random_seed(42)
    model = hn.Sequential([
        hn.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.2, seed=1),
        layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=3, verbose=0)
    return model


def main() -> float:
    digits = load_digits()
    x, y = digits.data.astype("float32") / 16.0, digits.target
    devices = hn.distribution.list_devices()
    print(f"backend: {hn.config.backend()}  devices: {len(devices)} {devices}")
    distributed = train(x, y, hn.distribution.DataParallel())
    loss, accuracy = distributed.evaluate(x, y, batch_size=128, verbose=0)
    single = train(x, y, None)
    difference = max(np.abs(a - b).max() for a, b in zip(distributed.get_weights(), single.get_weights()))
    print(f"loss: {loss:.4f}  accuracy: {accuracy:.4f}  largest weight difference from one device: {difference:.1e}")
    return difference


if __name__ == "__main__":
    main()
