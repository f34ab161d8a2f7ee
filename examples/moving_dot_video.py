"""A convolutional LSTM tells which way a dot moves through a short noisy video; no single frame can tell.

Each example is 5 frames of 8x8 pixels: a bright dot starts somewhere and moves one pixel per frame up, down,
left or right, in Gaussian noise. ConvLSTM2D reads the frames in order, its states being images themselves, and
a Dense layer reads the direction off its last state. A CNN that sees only the last frame guesses (about 1/4):

    python examples/moving_dot_video.py
    HIGHNN_BACKEND=jax python examples/moving_dot_video.py
"""

import numpy as np

import highnn as hn
from highnn import layers

FRAMES, SIZE = 5, 8
DIRECTIONS = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])  # up, down, left, right


def videos(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` videos ``(frames, rows, cols, 1)`` of a moving dot in noise, and each one's direction."""
    labels = rng.integers(0, 4, count)
    moves = DIRECTIONS[labels]
    start = rng.integers(0, SIZE - FRAMES + 1, size=(count, 2)) + (FRAMES - 1) * (moves < 0)  # it stays inside
    frames = rng.normal(0.0, 0.3, size=(count, FRAMES, SIZE, SIZE, 1)).astype("float32")
    for t in range(FRAMES):
        rows, cols = (start + t * moves).T
        frames[np.arange(count), t, rows, cols, 0] += 1.0
    return frames, labels


def main() -> dict[str, float]:
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = videos(1024, rng), videos(256, rng)
    hn.utils.set_random_seed(0)
    recurrent = hn.Sequential([
        hn.Input((FRAMES, SIZE, SIZE, 1)),
        layers.ConvLSTM2D(8, 3, padding="same"),  # the last state: (8, 8, 8)
        layers.GlobalMaxPooling2D(),
        layers.Dense(4, activation="softmax"),
    ])  # fmt: skip
    last_frame = hn.Sequential([
        hn.Input((SIZE, SIZE, 1)),
        layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.GlobalMaxPooling2D(),
        layers.Dense(4, activation="softmax"),
    ])  # fmt: skip
    accuracy = {}
    for name, model, train, test in (
        ("ConvLSTM2D over the video", recurrent, x_train, x_test),
        ("CNN on the last frame", last_frame, x_train[:, -1], x_test[:, -1]),
    ):
        model.compile(optimizer=hn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(train, y_train, batch_size=32, epochs=8, verbose=0)
        accuracy[name] = model.evaluate(test, y_test, verbose=0)[1]
        print(f"{name}: test accuracy {accuracy[name]:.3f}")
    print(f"backend: {hn.config.backend()}")
    return accuracy


if __name__ == "__main__":
    main()
