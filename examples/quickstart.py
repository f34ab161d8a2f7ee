"""Train a digit classifier with fit() and report its test accuracy.

Runs on the backend named by HIGHNN_BACKEND (NumPy by default):

    python examples/quickstart.py
    HIGHNN_BACKEND=torch python examples/quickstart.py
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers


def main() -> float:
    digits = load_digits()  # 1,797 8x8 images of handwritten digits, bundled with scikit-learn
    x = digits.data.astype("float32") / 16.0
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )

    hn.utils.set_random_seed(42)
    model = hn.Sequential([
        hn.Input(shape=(64,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.summary()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=32, epochs=30, validation_split=0.1, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"backend: {hn.config.backend()}  test loss: {loss:.4f}  test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
