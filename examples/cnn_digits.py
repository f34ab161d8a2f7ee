"""A small convolutional network on scikit-learn's 8x8 digits, seen as (8, 8, 1) images.

Two 3x3 convolutions find strokes wherever they are in the image (the second,
strided, halves the resolution where pooling would), batch normalisation keeps
their activations in range, and a Dense layer reads the result:

    python examples/cnn_digits.py
    HIGHNN_BACKEND=jax python examples/cnn_digits.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers


def main() -> float:
    digits = load_digits()
    images = digits.images.astype("float32")[..., None] / 16.0  # (1797, 8, 8, 1), values in [0, 1]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )

    hn.utils.set_random_seed(42)
    model = hn.Sequential([
        hn.Input(shape=(8, 8, 1)),
        layers.Conv2D(32, 3, padding="same"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Conv2D(64, 3, strides=2, padding="same"),  # 8x8 -> 4x4
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"backend: {hn.config.backend()}  test loss: {loss:.4f}  test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
