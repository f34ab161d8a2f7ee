"""A task that needs memory: does the first token come back at the end of the sequence?

Each sequence is 8 tokens from a vocabulary of 10, padded with 0 (masked) to
a length of 12. The label says whether the last real token equals the first
one, so the model must carry the first token through every step in between.
An Embedding with ``mask_zero=True`` feeds an LSTM that skips the padding.
Guessing gets 50%; after a plateau the LSTM finds the rule and reaches about
90% on unseen sequences, in about 10 seconds on NumPy:

    python examples/sequence_memory.py
    HIGHNN_BACKEND=torch python examples/sequence_memory.py
"""

import numpy as np

import highnn as hn
from highnn import layers

VOCABULARY, LENGTH, PADDED = 10, 8, 12


def make_sequences(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of tokens 1..9 padded with 0, half of them ending with their first token."""
    tokens = rng.integers(1, VOCABULARY, size=(count, LENGTH))
    repeat = rng.random(count) < 0.5
    other = (tokens[:, 0] + rng.integers(1, VOCABULARY - 1, size=count) - 1) % (VOCABULARY - 1) + 1  # never the first
    tokens[:, -1] = np.where(repeat, tokens[:, 0], other)
    padded = np.zeros((count, PADDED), dtype=np.int64)
    padded[:, :LENGTH] = tokens
    return padded, repeat.astype(np.int64)


def main() -> float:
    rng = np.random.default_rng(0)
    x_train, y_train = make_sequences(4000, rng)
    x_test, y_test = make_sequences(1000, rng)

    hn.utils.set_random_seed(1)
    model = hn.Sequential([
        hn.Input(shape=(PADDED,)),
        layers.Embedding(VOCABULARY, 16, mask_zero=True),
        layers.LSTM(32),
        layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer=hn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=25, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.3f} (chance: 0.5)")
    return float(accuracy)


if __name__ == "__main__":
    main()
