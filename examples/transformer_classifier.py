"""Classify token sequences with a small Transformer encoder block (MultiHeadAttention).

The task needs attention: each sequence of 10 tokens (one-hot over 8 symbols)
is labelled 1 when its first token appears again later in the sequence, and
0 otherwise. Position matters (which token is first), so a learned position
embedding is added to the projected tokens; the encoder block is
self-attention + residual + LayerNormalization, then a feed-forward network
+ residual + LayerNormalization, as in "Attention is all you need". On NumPy
it reaches about 99% test accuracy in a few seconds (a bag-of-tokens model
cannot beat chance by much: it does not know which token came first).

    python examples/transformer_classifier.py
"""

from typing import Any

import numpy as np

import highnn as hn
from highnn import layers

LENGTH, SYMBOLS, WIDTH = 10, 8, 32


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One-hot token sequences, half of them with their first token repeated later (label 1)."""
    tokens = rng.integers(0, SYMBOLS, size=(n, LENGTH))
    labels = rng.integers(0, 2, size=n)
    for row, label in zip(tokens, labels):
        others = [s for s in range(SYMBOLS) if s != row[0]]
        row[1:] = rng.choice(others, size=LENGTH - 1)  # first token absent from the rest...
        if label:
            row[rng.integers(1, LENGTH)] = row[0]  # ...unless the label says it returns
    return np.eye(SYMBOLS)[tokens], labels


class EncoderClassifier(hn.Model):
    """Token projection + position embedding, one Transformer encoder block, a logistic head on the first position."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.embed = layers.Dense(WIDTH)
        self.positions = layers.Dense(WIDTH, use_bias=False)  # a learned embedding of the one-hot position
        self.attention = layers.MultiHeadAttention(num_heads=4, key_dim=WIDTH // 4)
        self.norm_1 = layers.LayerNormalization()
        self.feed_forward = layers.Dense(2 * WIDTH, activation="relu")
        self.feed_back = layers.Dense(WIDTH)
        self.norm_2 = layers.LayerNormalization()
        self.head = layers.Dense(1, activation="sigmoid")

    def call(self, inputs: hn.Tensor, training: bool = False) -> hn.Tensor:
        x = self.embed(inputs) + self.positions(np.eye(LENGTH))
        x = self.norm_1(x + self.attention(x, x, training=training))
        x = self.norm_2(x + self.feed_back(self.feed_forward(x)))
        return self.head(x[:, 0])  # the first position, which attends to the rest, decides


def main() -> float:
    rng = np.random.default_rng(0)
    x_train, y_train = make_data(2000, rng)
    x_test, y_test = make_data(500, rng)
    hn.utils.set_random_seed(1)
    model = EncoderClassifier()
    model.compile(optimizer=hn.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"backend: {hn.config.backend()}  test loss: {loss:.4f}  test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
