"""Regularisation layers: Dropout, GaussianDropout, GaussianNoise and SpatialDropout1D/2D/3D, which act only while
training, and ActivityRegularization."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from highnn import random
from highnn.batch_share import current_share
from highnn.checks import check_number, check_seed, fail, is_integer
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import InputSpec, Shape
from highnn.ops.primitives import data_format_of, random_normal, random_uniform, where
from highnn.regularizers import L1L2
from highnn.variables import Variable


class RandomLayer(Layer):
    """A layer that draws fresh random numbers at every training step.

    Its seed lives in an integer state variable, ``seed_state`` (in the
    layer's ``variables`` but not its weights, as in Keras): each draw uses its current value and then
    advances it with ``assign_add(1)``. The advance is a Variable assignment,
    so a traced train step replays it too and every step draws new numbers,
    while the same ``seed`` always gives the same sequence. Without a seed one
    is drawn from highnn's generator (see ``hn.utils.set_random_seed``).
    """

    supports_masking = True  # the mask passes through, as in Keras

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        self.seed = check_seed(type(self).__name__, seed)
        super().__init__(**kwargs)
        self.initial_seed = self.seed if self.seed is not None else random.new_seed()
        self.seed_state: Variable  # created by build

    def build(self, input_shape: Shape) -> None:
        self.seed_state = self.add_state_variable(np.asarray(self.initial_seed, dtype=np.int64), "seed_generator_state")

    def draw(self, sampler: Callable[..., Tensor], shape: tuple[int, ...], per_example: bool = True) -> Tensor:
        """``sampler(seed, shape, compute dtype)`` (``random_uniform`` or ``random_normal``), then advance the seed.

        On a process's share of a global batch (torch DataParallel), noise ``per_example`` (axis 0 is the batch)
        is drawn for the global batch and this share's rows are kept, so the job draws what one process draws.
        """
        share = current_share()
        if share is None or share.replicated or not per_example:
            values = sampler(self.seed_state, shape=shape, dtype=self.compute_dtype)
        else:
            whole = sampler(self.seed_state, shape=(share.global_rows, *shape[1:]), dtype=self.compute_dtype)
            values = whole[share.offset : share.offset + share.rows]
        self.seed_state.assign_add(1)
        return values

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


class Dropout(RandomLayer):
    """Sets each input unit to 0 with probability ``rate`` while training, and scales the rest by ``1 / (1 - rate)``.

    The scaling keeps the expected sum of the inputs unchanged, so at
    inference (``training=False``) the layer is the identity. ``noise_shape``
    shares one keep/drop decision along the axes where it is 1 (``None``
    entries take the input's size), e.g. ``(None, 1, features)`` drops the
    same features at every time step.

    >>> layer = hn.layers.Dropout(0.5, seed=1)
    >>> layer(np.ones((2, 4)), training=True)  # zeros and 2.0s
    """

    def __init__(
        self, rate: float, noise_shape: tuple[int | None, ...] | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        owner = type(self).__name__  # SpatialDropout1D/2D name themselves
        self.rate = check_number(owner, "rate", rate, 0.0, 1.0, high_open=True)
        self.noise_shape = _check_noise_shape(owner, noise_shape)
        super().__init__(seed=seed, **kwargs)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        self.mask_shape(input_shape)  # a noise_shape that cannot fit the input fails here, not mid-training

    def mask_shape(self, input_shape: Shape) -> Shape:
        """The shape of the keep/drop mask for inputs of ``input_shape``."""
        if self.noise_shape is None:
            return tuple(input_shape)
        subject = f"{type(self).__name__} {self.name!r}: `noise_shape` {self.noise_shape}"
        if len(self.noise_shape) != len(input_shape):
            raise ValueError(
                f"{subject} must have one entry per input dimension; received an input of shape {tuple(input_shape)}."
            )
        shape = tuple(dim if size is None else size for size, dim in zip(self.noise_shape, input_shape))
        if any(size not in (1, dim) and dim is not None for size, dim in zip(shape, input_shape)):
            raise ValueError(
                f"{subject} must broadcast to the input: each entry must be None, 1 or the input's size, received an "
                f"input of shape {tuple(input_shape)}."
            )
        return shape

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = tuple(
            size if size is not None else dim for size, dim in zip(self.mask_shape(inputs.shape), inputs.shape)
        )
        per_example = self.noise_shape is None or self.noise_shape[0] is None
        kept = self.draw(random_uniform, shape, per_example) < keep
        return where(kept, inputs / keep, 0.0)

    def get_config(self) -> dict[str, Any]:
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape}


class GaussianNoise(RandomLayer):
    """Adds zero-mean Gaussian noise of standard deviation ``stddev`` while training; the identity at inference.

    >>> layer = hn.layers.GaussianNoise(0.1, seed=1)
    >>> layer(np.zeros((2, 3)), training=True)  # small random values
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        self.stddev = check_number("GaussianNoise", "stddev", stddev, 0.0, 1.0)
        super().__init__(seed=seed, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.stddev == 0.0:
            return inputs
        return inputs + self.draw(random_normal, inputs.shape) * self.stddev

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(RandomLayer):
    """Multiplies each input unit by Gaussian noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))``
    while training (the multiplicative noise of Srivastava et al., 2014); the identity at inference.

    >>> layer = hn.layers.GaussianDropout(0.2, seed=1)
    >>> layer(np.ones((2, 3)), training=True)  # values around 1
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        self.rate = check_number("GaussianDropout", "rate", rate, 0.0, 1.0, high_open=True)
        super().__init__(seed=seed, **kwargs)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0.0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * (self.draw(random_normal, inputs.shape) * stddev + 1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class ActivityRegularization(Layer):
    """Passes its input on and adds ``l1 * sum(|x|) + l2 * sum(x**2)`` of it, divided by the batch size, to the
    model's losses (Keras's layer: an activity regularizer on its own).

    >>> layer = hn.layers.ActivityRegularization(l2=0.01)
    >>> out = layer(np.ones((2, 3)))  # layer.losses: [0.03]
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        self.l1 = check_number("ActivityRegularization", "l1", l1, 0.0)
        self.l2 = check_number("ActivityRegularization", "l2", l2, 0.0)
        super().__init__(activity_regularizer=L1L2(l1=self.l1, l2=self.l2), **kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return inputs

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["activity_regularizer"]
        return {**config, "l1": self.l1, "l2": self.l2}


def _check_noise_shape(owner: str, noise_shape: Any) -> tuple[int | None, ...] | None:
    """``noise_shape`` as a tuple of positive ints and Nones (or None), else a clear error."""
    if noise_shape is None:
        return None
    valid = isinstance(noise_shape, (list, tuple)) and all(n is None or (is_integer(n) and n > 0) for n in noise_shape)
    if not valid:
        fail(owner, "noise_shape", "None or a tuple of positive integers and Nones", noise_shape)
    return tuple(None if n is None else int(n) for n in noise_shape)


# ------------------------------------------------------------------ spatial dropout
class SpatialDropout1D(Dropout):
    """Dropout of whole channels: one keep/drop decision per example and channel, shared by every step, since
    neighbouring steps of a feature map are too alike for independent dropout to regularise them.

    >>> layer = hn.layers.SpatialDropout1D(0.5, seed=1)
    >>> layer(np.ones((2, 5, 4)), training=True)  # each (example, channel) column is all 0 or all 2
    """

    rank = 1
    data_format = "channels_last"

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)

    def build(self, input_shape: Shape) -> None:
        InputSpec(self.rank + 2).check(self.name, input_shape)  # before the seed's state variable is made
        super().build(input_shape)

    def check_input(self, x: Tensor) -> None:
        InputSpec(self.rank + 2).check(self.name, x.shape)

    def mask_shape(self, input_shape: Shape) -> Shape:
        channel = 1 if self.data_format == "channels_first" else len(input_shape) - 1
        return tuple(n if axis in (0, channel) else 1 for axis, n in enumerate(input_shape))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["noise_shape"]
        return config


class SpatialDropout2D(SpatialDropout1D):
    """Dropout of whole feature maps: one keep/drop decision per example and channel, shared by every pixel.

    >>> hn.layers.SpatialDropout2D(0.5, seed=1)(np.ones((2, 3, 3, 4)), training=True)
    """

    rank = 2

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any) -> None:
        self.data_format = data_format_of(type(self).__name__, data_format)
        super().__init__(rate, seed=seed, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout2D):
    """Dropout of whole feature volumes: one keep/drop decision per example and channel, shared by every voxel."""

    rank = 3
