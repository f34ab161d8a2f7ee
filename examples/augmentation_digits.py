"""Image augmentation: a CNN that saw randomly turned and shifted digits while training keeps reading them when
the test digits are turned and shifted too; the same CNN trained on the plain images does not.

Both models train on half of scikit-learn's 8x8 digits. The augmented one starts with RandomRotation and
RandomTranslation layers, which change every training image by a new random draw each epoch and pass images
through unchanged at inference. Both are then tested on the other half, as it is and turned by up to 18 degrees
and shifted by up to one pixel:

    python examples/augmentation_digits.py
    HIGHNN_BACKEND=torch python examples/augmentation_digits.py
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers


def augmentation(seed: int) -> list[hn.layers.Layer]:
    """Up to 18 degrees either way, and up to an eighth of the image (one pixel) along each axis."""
    return [
        layers.RandomRotation(0.05, fill_mode="constant", seed=seed),
        layers.RandomTranslation(0.125, 0.125, fill_mode="constant", seed=seed + 1),
    ]


def cnn(augmented: bool) -> hn.Sequential:
    hn.utils.set_random_seed(0)
    return hn.Sequential([
        hn.Input(shape=(8, 8, 1)),
        *(augmentation(seed=1) if augmented else []),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])  # fmt: skip


def main() -> dict[str, tuple[float, float]]:
    digits = load_digits()
    images = digits.images.astype("float32")[..., None] / 16.0  # (1797, 8, 8, 1), values in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.5, random_state=0, stratify=digits.target
    )
    moved = np.asarray(hn.Sequential(augmentation(seed=100))(x_test, training=True).numpy())  # one fixed draw

    results = {}
    for name, augmented in (("plain", False), ("augmented", True)):
        model = cnn(augmented)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, batch_size=32, epochs=40, verbose=0)
        results[name] = (model.evaluate(x_test, y_test, verbose=0)[1], model.evaluate(moved, y_test, verbose=0)[1])
        print(f"{name:>9}: test accuracy {results[name][0]:.3f}, on turned and shifted digits {results[name][1]:.3f}")
    print(f"backend: {hn.config.backend()}")
    return results


if __name__ == "__main__":
    main()
