"""A GAN on scikit-learn's 8x8 digits: a custom ``train_step`` with two optimizers.

The model's ``train_step(data)`` is Keras's: it receives a batch of real digits,
trains the discriminator to tell them from generated ones, then the generator to
fool it, each with its own optimizer, and returns its logs. Gradients come from
``hn.grad``, the same code on every backend; ``fit`` traces the whole step (both
updates) into one program:

    python examples/gan_digits.py
    HIGHNN_BACKEND=jax python examples/gan_digits.py
"""

from typing import Any

from sklearn.datasets import load_digits

import highnn as hn
from highnn import layers, ops

LATENT_DIM = 16


class GAN(hn.Model):
    def __init__(self, discriminator: hn.Model, generator: hn.Model, clip_norm: float = 1.0) -> None:
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.clip_norm = clip_norm
        self.d_loss_tracker = hn.metrics.Mean(name="d_loss")
        self.g_loss_tracker = hn.metrics.Mean(name="g_loss")
        self.seed_generator = hn.random.SeedGenerator(1337)

    @property
    def metrics(self) -> list[hn.metrics.Metric]:
        return [self.d_loss_tracker, self.g_loss_tracker]  # reset by fit at the start of each epoch

    def compile(self, d_optimizer: Any, g_optimizer: Any, loss_fn: Any) -> None:  # type: ignore[override]
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def clipped(self, grads: list[hn.Tensor]) -> list[hn.Tensor]:
        """The gradients scaled down to a global norm of at most ``clip_norm``."""
        norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
        return [g * ops.minimum(1.0, self.clip_norm / norm) for g in grads]

    def train_step(self, real_images: Any) -> dict[str, Any]:
        batch_size = ops.shape(real_images)[0]

        # the discriminator learns: generated digits are labelled 1, real ones 0 (with a little label noise)
        latent = hn.random.normal((batch_size, LATENT_DIM), seed=self.seed_generator)
        combined = ops.concatenate([self.generator(latent), real_images], axis=0)
        labels = ops.concatenate([ops.ones((batch_size, 1)), ops.zeros((batch_size, 1))], axis=0)
        labels = labels + 0.05 * hn.random.uniform(ops.shape(labels), seed=self.seed_generator)
        d_loss = self.loss_fn(labels, self.discriminator(combined, training=True))
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(self.clipped(hn.grad(d_loss, d_weights)), d_weights)

        # the generator learns to make the discriminator say "real" (0)
        latent = hn.random.normal((batch_size, LATENT_DIM), seed=self.seed_generator)
        g_loss = self.loss_fn(ops.zeros((batch_size, 1)), self.discriminator(self.generator(latent, training=True)))
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply(self.clipped(hn.grad(g_loss, g_weights)), g_weights)

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def main(epochs: int = 3) -> dict[str, list[float]]:
    digits = load_digits().data.astype("float32") / 16.0  # (1797, 64), values in [0, 1]
    hn.utils.set_random_seed(42)
    discriminator = hn.Sequential([
        hn.Input(shape=(64,)),
        layers.Dense(64),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(1),
    ], name="discriminator")  # fmt: skip
    generator = hn.Sequential([
        hn.Input(shape=(LATENT_DIM,)),
        layers.Dense(64),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Dense(64, activation="sigmoid"),
    ], name="generator")  # fmt: skip
    gan = GAN(discriminator, generator)
    gan.compile(
        d_optimizer=hn.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=hn.optimizers.Adam(learning_rate=0.0003),
        loss_fn=hn.losses.BinaryCrossentropy(from_logits=True),
    )
    history = gan.fit(digits, batch_size=64, epochs=epochs, verbose=2)
    fake = generator.predict(hn.random.normal((500, LATENT_DIM), seed=7).numpy(), verbose=0)
    print(
        f"backend: {hn.config.backend()}  d_loss: {history.history['d_loss'][-1]:.4f}  "
        f"g_loss: {history.history['g_loss'][-1]:.4f}  mean pixel: real {digits.mean():.3f}, "
        f"generated {fake.mean():.3f}"
    )
    return history.history


if __name__ == "__main__":
    main()
