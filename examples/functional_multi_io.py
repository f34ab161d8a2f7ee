"""A functional model with two inputs, a shared layer and two outputs, on the 8x8 digits.

The top and bottom halves of each image are two inputs read by one shared
encoder (one set of weights, its gradients summed over both calls); the model
predicts the digit and how much ink the image holds:

    python examples/functional_multi_io.py
"""

import tempfile
from pathlib import Path

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import highnn as hn
from highnn import layers


def main() -> dict[str, float]:
    digits = load_digits()
    x = digits.data.astype("float32") / 16.0
    ink = x.mean(axis=1, keepdims=True)
    split = train_test_split(x, digits.target, ink, test_size=0.2, random_state=0, stratify=digits.target)
    x_train, x_test, digit_train, digit_test, ink_train, ink_test = split

    hn.utils.set_random_seed(42)
    top, bottom = hn.Input(shape=(32,), name="top"), hn.Input(shape=(32,), name="bottom")
    encoder = layers.Dense(32, activation="relu", name="encoder")  # shared by both halves
    both = layers.Concatenate(name="both_halves")([encoder(top), encoder(bottom)])
    hidden = layers.Dense(64, activation="relu")(both)
    model = hn.Model(
        inputs={"top": top, "bottom": bottom},
        outputs={"digit": layers.Dense(10, activation="softmax")(hidden), "ink": layers.Dense(1)(hidden)},
        name="halves",
    )
    model.summary()
    model.compile(
        optimizer="adam",
        loss={"digit": "sparse_categorical_crossentropy", "ink": "mse"},
        loss_weights={"digit": 1.0, "ink": 10.0},
        metrics={"digit": ["accuracy"], "ink": ["mae"]},
    )

    def halves(images):
        return {"top": images[:, :32], "bottom": images[:, 32:]}

    model.fit(halves(x_train), {"digit": digit_train, "ink": ink_train}, batch_size=32, epochs=25, verbose=0)
    logs = model.evaluate(halves(x_test), {"digit": digit_test, "ink": ink_test}, verbose=0, return_dict=True)
    predicted = model.predict(halves(x_test[:3]), verbose=0)
    print(f"first test digits: {predicted['digit'].argmax(axis=1).tolist()} (true: {digit_test[:3].tolist()})")
    print(f"backend: {hn.config.backend()}  test digit accuracy: {logs['digit_accuracy']:.4f}  "
          f"test ink mean absolute error: {logs['ink_mae']:.4f}")  # fmt: skip

    with tempfile.TemporaryDirectory() as folder:
        written = hn.utils.plot_model(model, to_file=Path(folder) / "halves.png", show_shapes=True)
        print(f"plot_model wrote {Path(written).name}")
    return logs


if __name__ == "__main__":
    main()
