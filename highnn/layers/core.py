"""Core layers: Input, Dense, Activation."""

from __future__ import annotations

from typing import Any

from highnn import activations, constraints, initializers, regularizers
from highnn.checks import fail
from highnn.config import settings
from highnn.graph import Tensor
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import deserialize_weight_arguments, serialize_weight_arguments
from highnn.ops.primitives import max, reshape


class InputLayer(Layer):
    """Declares the shape of a model's inputs (without the batch axis)."""

    def __init__(
        self,
        shape: tuple[int, ...] | None = None,
        batch_size: int | None = None,
        dtype: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or None, **kwargs)
        if shape is None or not all(isinstance(n, int) and n > 0 for n in tuple(shape)):
            raise ValueError(f"InputLayer: `shape` must be a tuple of positive ints, received {shape!r}.")
        self.shape = tuple(shape)
        self.batch_size = batch_size
        self.dtype = dtype or settings.floatx

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        return (self.batch_size,) + self.shape

    def call(self, inputs: Tensor) -> Tensor:
        self.check_shape(inputs.shape)
        return inputs

    def check_shape(self, shape: tuple[int | None, ...]) -> None:
        """Reject inputs whose shape (after the batch axis) is not the declared one."""
        if tuple(shape[1:]) != self.shape:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected shape "
                f"{(None,) + self.shape}, but received input with shape {tuple(shape)}."
            )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        self.check_shape(input_shape)
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "batch_size": self.batch_size, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputLayer:
        return cls(**{**config, "shape": tuple(config["shape"])})


class ActivationAttribute:
    """A layer's ``activation``: what is assigned (a name, a function, or None for linear) is resolved on the spot."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.private = f"_{name}"

    def __get__(self, layer: Any, owner: type | None = None) -> Any:
        return self if layer is None else getattr(layer, self.private)

    def __set__(self, layer: Any, value: str | activations.Activation | None) -> None:
        setattr(layer, self.private, activations.get(value))


def Input(
    shape: tuple[int, ...], batch_size: int | None = None, dtype: str | None = None, name: str | None = None
) -> InputLayer:
    """The input declaration that starts a Sequential model: ``hn.Input(shape=(64,))``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)


class Dense(Layer):
    """A layer of ``units`` neurons: ``activation(aggregate(x, kernel) + bias)``.

    With ``aggregation="sum"`` (the default) ``aggregate`` is the product
    ``x @ kernel``: each neuron sums its weighted inputs. With
    ``aggregation="max"`` each neuron takes the largest weighted input,
    ``out[..., j] = max_i x[..., i] * kernel[i, j]``.

    >>> layer = hn.layers.Dense(10, activation="relu")
    >>> layer(np.ones((4, 3))).shape
    (4, 10)
    """

    supports_masking = True  # the mask passes through, as in Keras

    AGGREGATIONS = ("sum", "max")
    activation = ActivationAttribute()
    WEIGHT_ARGUMENTS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                        "kernel_constraint", "bias_constraint")  # fmt: skip

    def __init__(
        self,
        units: int,
        activation: str | activations.Activation | None = None,
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        bias_initializer: str | initializers.Initializer = "zeros",
        kernel_regularizer: str | regularizers.Regularizer | None = None,
        bias_regularizer: str | regularizers.Regularizer | None = None,
        kernel_constraint: constraints.ConstraintLike = None,
        bias_constraint: constraints.ConstraintLike = None,
        aggregation: str = "sum",
        **kwargs: Any,
    ) -> None:
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            fail("Dense", "units", "a positive integer", units)
        if aggregation not in self.AGGREGATIONS:
            fail("Dense", "aggregation", f"one of {self.AGGREGATIONS}", aggregation)
        super().__init__(**kwargs)
        self.units = units
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.aggregation = aggregation

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"Dense {self.name!r} needs inputs of shape (batch, ..., features), received {input_shape}."
            )
        self.expected_last_dim = int(input_shape[-1])
        self.kernel = self.add_weight(
            (self.expected_last_dim, self.units),
            self.kernel_initializer,
            "kernel",
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(
                (self.units,),
                self.bias_initializer,
                "bias",
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
            if self.use_bias
            else None
        )

    def call(self, inputs: Tensor) -> Tensor:
        if self.aggregation == "sum":
            z = inputs @ self.kernel
        else:
            z = max(reshape(inputs, inputs.shape + (1,)) * self.kernel, axis=-2)
        if self.bias is not None:
            z = z + self.bias
        return self.activation(z)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return activations.compute_output_shape(self.activation, tuple(input_shape[:-1]) + (self.units,))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **serialize_weight_arguments(self, self.WEIGHT_ARGUMENTS),
            "aggregation": self.aggregation,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return super().from_config(deserialize_weight_arguments(config, cls.WEIGHT_ARGUMENTS))


class Activation(Layer):
    """Applies an activation function: ``Activation("relu")``."""

    supports_masking = True  # the mask passes through, as in Keras

    activation = ActivationAttribute()

    def __init__(self, activation: str | activations.Activation | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activation

    def call(self, inputs: Tensor) -> Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return activations.compute_output_shape(self.activation, input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
