"""Weight initializers (Keras 3 names, arguments and defaults).

Each draws from highnn's seeded NumPy generator (or its own, when given a
``seed``) in float64 and returns a NumPy array of the requested dtype; layers
place it on the backend, so every backend starts from the same bits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike

from highnn import random
from highnn.checks import check_choice, check_number, check_seed, fail
from highnn.config import settings
from highnn.graph import Tensor
from highnn.registry import Registry

Shape = tuple[int, ...]


class Initializer:
    """``initializer(shape, dtype=None) -> np.ndarray``."""

    def __call__(self, shape: Shape, dtype: str | None = None) -> np.ndarray:
        return np.asarray(self.draw(tuple(int(n) for n in shape)), dtype=dtype or settings.floatx)

    def draw(self, shape: Shape) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)


class Zeros(Initializer):
    def draw(self, shape: Shape) -> np.ndarray:
        return np.zeros(shape)


class Ones(Initializer):
    def draw(self, shape: Shape) -> np.ndarray:
        return np.ones(shape)


class Constant(Initializer):
    """``value`` everywhere: a number, or an array broadcast to the requested shape."""

    def __init__(self, value: float | ArrayLike = 0.0) -> None:
        try:
            array = np.array(value.numpy() if isinstance(value, Tensor) else value, dtype=np.float64)
        except (TypeError, ValueError):
            fail(type(self).__name__, "value", "a number or an array of numbers", value, TypeError)
        if not np.all(np.isfinite(array)):
            fail(type(self).__name__, "value", "a finite number or an array of them", value)
        self.value: float | np.ndarray = float(array) if array.ndim == 0 else array

    def draw(self, shape: Shape) -> np.ndarray:
        fits = np.ndim(self.value) <= len(shape) and all(
            n in (1, m) for n, m in zip(reversed(np.shape(self.value)), reversed(shape))
        )
        if not fits:
            raise ValueError(
                f"{type(self).__name__}: a value of shape {np.shape(self.value)} cannot fill a weight of shape {shape}."
            )
        return np.broadcast_to(self.value, shape).copy()

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value.tolist() if isinstance(self.value, np.ndarray) else self.value}


class ArrayValues(Constant):
    """The values of an array, for a weight of exactly its shape: what ``get(array)`` returns, as in Keras."""

    def draw(self, shape: Shape) -> np.ndarray:
        if np.shape(self.value) != shape:
            raise ValueError(
                f"ArrayValues: the array given as initializer has shape {np.shape(self.value)}, so the weight must "
                f"have it too; received shape {shape}."
            )
        return np.array(self.value)


class RandomInitializer(Initializer):
    """Draws from highnn's generator, or from its own seeded one (the same values every call)."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = check_seed(type(self).__name__, seed)

    def generator(self) -> np.random.Generator:
        return random.generator() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape: Shape, mean: float, stddev: float) -> np.ndarray:
    """Normal values redrawn until they lie within two standard deviations."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return mean + stddev * values


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def draw(self, shape: Shape) -> np.ndarray:
        return self.generator().normal(self.mean, self.stddev, shape)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    def draw(self, shape: Shape) -> np.ndarray:
        return _truncated_normal(self.generator(), shape, self.mean, self.stddev)


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def draw(self, shape: Shape) -> np.ndarray:
        return self.generator().uniform(self.minval, self.maxval, shape)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


def compute_fans(shape: Shape) -> tuple[float, float]:
    """Fan-in and fan-out as Keras computes them (receptive field times channels)."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class VarianceScaling(RandomInitializer):
    """Variance ``scale / fan`` where fan is fan_in, fan_out or their mean."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal", seed: int | None = None
    ) -> None:
        super().__init__(seed)
        self.scale = check_number("VarianceScaling", "scale", scale, 0.0, low_open=True)
        self.mode = check_choice("VarianceScaling", "mode", mode, self.MODES)
        self.distribution = check_choice("VarianceScaling", "distribution", distribution, self.DISTRIBUTIONS)

    def draw(self, shape: Shape) -> np.ndarray:
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self.generator()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / 0.87962566103423978)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


def _variance_scaling(name: str, scale: float, mode: str, distribution: str) -> type[VarianceScaling]:
    """A named VarianceScaling preset (GlorotUniform, HeNormal, ...)."""

    def __init__(self: VarianceScaling, seed: int | None = None) -> None:
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self: VarianceScaling) -> dict[str, Any]:
        return {"seed": self.seed}

    return type(
        name,
        (VarianceScaling,),
        {
            "__init__": __init__,
            "get_config": get_config,
            "__doc__": f"VarianceScaling({scale}, {mode!r}, {distribution!r}).",
        },
    )


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """A (scaled) random orthogonal matrix, from the QR decomposition of a normal one."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = gain

    def draw(self, shape: Shape) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: `shape` must have at least 2 dimensions, received {shape}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = self.generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q[:rows, :cols].reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def draw(self, shape: Shape) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError(f"Identity: `shape` must be 2-D, received {shape}.")
        return self.gain * np.eye(*shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


InitializerLike = str | Initializer | type[Initializer] | dict[str, Any] | np.ndarray | np.generic | Tensor

INITIALIZERS: Registry[Initializer] = Registry("initializer", Initializer)
INITIALIZERS.register(Zeros, "zeros", "zero")
INITIALIZERS.register(Ones, "ones", "one")
INITIALIZERS.register(Constant, "constant")
INITIALIZERS.register(ArrayValues, "array_values")
INITIALIZERS.register(RandomNormal, "random_normal", "normal")
INITIALIZERS.register(RandomUniform, "random_uniform", "uniform")
INITIALIZERS.register(TruncatedNormal, "truncated_normal")
INITIALIZERS.register(VarianceScaling, "variance_scaling")
INITIALIZERS.register(GlorotUniform, "glorot_uniform")
INITIALIZERS.register(GlorotNormal, "glorot_normal")
INITIALIZERS.register(HeUniform, "he_uniform")
INITIALIZERS.register(HeNormal, "he_normal")
INITIALIZERS.register(LecunUniform, "lecun_uniform")
INITIALIZERS.register(LecunNormal, "lecun_normal")
INITIALIZERS.register(Orthogonal, "orthogonal", "OrthogonalInitializer")
INITIALIZERS.register(Identity, "identity", "IdentityInitializer")


@overload
def get(identifier: None) -> None: ...
@overload
def get(identifier: InitializerLike) -> Initializer: ...
def get(identifier: InitializerLike | None) -> Initializer | None:
    """An initializer from a name (``"glorot_uniform"``), a config, a class or an instance; None stays None.

    A function ``f(shape, dtype=None)`` is returned as it is; an array gives its own values (an
    :class:`ArrayValues`), for weights of exactly its shape.
    """
    if isinstance(identifier, (np.ndarray, np.generic, Tensor)):
        return ArrayValues(identifier)
    return INITIALIZERS.get(identifier)


def serialize(initializer: Initializer) -> dict[str, Any]:
    return INITIALIZERS.serialize(initializer)


def deserialize(config: dict[str, Any], custom_objects: Mapping[str, Any] | None = None) -> Initializer:
    """The initializer :func:`serialize` described, built only from a registered class or one in ``custom_objects``."""
    return INITIALIZERS.deserialize(config, custom_objects)
