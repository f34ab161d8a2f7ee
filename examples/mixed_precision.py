"""Train the digit classifier in float32 and under mixed precision, and compare test accuracies.

Under "mixed_bfloat16" and "mixed_float16" the layers compute in the 16-bit type
while their weights stay float32; the final softmax runs in float32 (its own
``dtype="float32"``), as do the loss and the metrics. "mixed_float16" also scales
the loss (``compile`` wraps the optimizer in a LossScaleOptimizer).

    python examples/mixed_precision.py
    HIGHNN_BACKEND=jax python examples/mixed_precision.py
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def train(policy: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """The test accuracy of the digits MLP trained under ``policy``."""
    hn.mixed_precision.set_global_policy(policy)
    hn.utils.set_random_seed(42)
    model = hn.Sequential([
        hn.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
        layers.Activation("softmax", dtype="float32"),  # the probabilities in float32, whatever the policy
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=30, verbose=0)
    hidden = model.layers[0]
    print(f"{policy:>15}: computes in {hidden.compute_dtype}, keeps weights in {hidden.kernel.dtype}, "
          f"optimizer {type(model.optimizer).__name__}", end="")  # fmt: skip
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"  test accuracy: {accuracy:.4f}")
    return accuracy


def main() -> dict[str, float]:
    digits = load_digits()
    x = digits.data.astype("float32") / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    print(f"backend: {hn.config.backend()}")
    try:
        return {policy: train(policy, x_train, y_train, x_test, y_test) for policy in POLICIES}
    finally:
        hn.mixed_precision.set_global_policy(None)


if __name__ == "__main__":
    main()
