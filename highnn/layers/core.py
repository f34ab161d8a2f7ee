"""Core layers: Input, Dense, Activation, Identity, RepeatVector, Permute, Lambda."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from highnn import activations, constraints, initializers, regularizers
from highnn.checks import check_number, fail, is_integer
from highnn.config import settings
from highnn.graph import Tensor
from highnn.layers import symbolic
from highnn.layers.layer import Layer
from highnn.layers.layer_utils import deserialize_weight_arguments, serialize_weight_arguments
from highnn.ops.primitives import broadcast_to, cast, max, not_equal, reshape, transpose


class InputLayer(Layer):
    """Declares the shape of a model's inputs (without the batch axis; ``None`` where any size goes).

    Its :attr:`output` is the symbolic tensor a functional model starts from.
    """

    def __init__(
        self,
        shape: tuple[int | None, ...] | None = None,
        batch_size: int | None = None,
        dtype: str | None = None,
        name: str | None = None,
        batch_shape: tuple[int | None, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ValueError("InputLayer: give `shape` (and `batch_size`) or `batch_shape`, not both.")
            if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
                fail("InputLayer", "batch_shape", "a non-empty tuple", batch_shape)
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if not isinstance(shape, (tuple, list)) or not all(n is None or (is_integer(n) and n > 0) for n in shape):
            fail("InputLayer", "shape", "a tuple of positive ints or None", shape)
        if batch_size is not None and not (is_integer(batch_size) and batch_size > 0):
            fail("InputLayer", "batch_size", "a positive int or None", batch_size)
        super().__init__(name=name or None, **kwargs)
        self.shape = tuple(shape)
        self.batch_size = batch_size
        self.dtype = dtype or settings.floatx
        self.built = True
        node = symbolic.Node(self, [], symbolic.SymbolicTensor(self.batch_shape, self.dtype, name=self.name))
        node.outputs.node = node
        self._inbound_nodes.append(node)

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        return (self.batch_size,) + self.shape

    def call(self, inputs: Tensor) -> Tensor:
        self.check_shape(inputs.shape)
        return inputs

    def check_shape(self, shape: tuple[int | None, ...]) -> None:
        """Reject inputs whose shape (after the batch axis) is not the declared one."""
        received = tuple(shape[1:])
        if len(received) != len(self.shape) or any(n is not None and m != n for m, n in zip(received, self.shape)):
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
    shape: tuple[int | None, ...] | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,
    name: str | None = None,
    batch_shape: tuple[int | None, ...] | None = None,
) -> symbolic.SymbolicTensor:
    """A symbolic input to start a model from: ``x = hn.Input(shape=(64,))``, then ``hn.Model(x, layer(x))``.

    ``Sequential([hn.Input((64,)), ...])`` takes it too.
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    output: symbolic.SymbolicTensor = layer.output
    return output


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
            name="kernel",
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(
                (self.units,),
                self.bias_initializer,
                name="bias",
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


class Identity(Layer):
    """Returns its input unchanged (a placeholder in a graph)."""

    def call(self, inputs: Tensor) -> Tensor:
        return inputs

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


class Masking(Layer):
    """Masks the timesteps whose features all equal ``mask_value``: their output is zeros, and the mask it
    attaches (True where a step keeps a feature unlike ``mask_value``) makes the layers after it skip them, as
    Keras's ``Masking`` does for recurrent layers over padded float sequences.

    >>> x = np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]])
    >>> hn.layers.Masking()(x).mask  # [[True, False, True]]
    """

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        self.mask_value = check_number("Masking", "mask_value", mask_value)
        super().__init__(**kwargs)

    def call(self, inputs: Tensor) -> Tensor:
        return inputs * cast(self._kept(inputs, keepdims=True), inputs.dtype)

    def compute_mask(self, inputs: Tensor, previous_mask: Tensor | None = None) -> Tensor:
        return self._kept(inputs, keepdims=False)

    def _kept(self, inputs: Tensor, keepdims: bool) -> Tensor:
        """True at the steps with a feature unlike ``mask_value``."""
        return not_equal(max(cast(not_equal(inputs, self.mask_value), inputs.dtype), axis=-1, keepdims=keepdims), 0)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


class RepeatVector(Layer):
    """Repeats a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        if not is_integer(n) or n <= 0:
            fail("RepeatVector", "n", "a positive integer", n)
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, inputs: Tensor) -> Tensor:
        if inputs.ndim != 2:
            raise ValueError(f"RepeatVector {self.name!r} needs inputs of rank 2, received shape {inputs.shape}.")
        return broadcast_to(reshape(inputs, (inputs.shape[0], 1, inputs.shape[1])),
                            (inputs.shape[0], self.n, inputs.shape[1]))  # fmt: skip

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector {self.name!r} needs inputs of rank 2, received shape {input_shape}.")
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` numbers them from 1: ``Permute((2, 1))`` swaps the two."""

    def __init__(self, dims: tuple[int, ...] | list[int], **kwargs: Any) -> None:
        if not isinstance(dims, (tuple, list)) or sorted(dims) != list(range(1, len(dims) + 1)):
            fail("Permute", "dims", "a permutation of 1..rank (the batch axis is 0 and stays)", dims)
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)

    def call(self, inputs: Tensor) -> Tensor:
        return transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(
                f"Permute {self.name!r}: dims {self.dims} need inputs of rank {len(self.dims) + 1}, "
                f"received shape {input_shape}."
            )
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


class Lambda(Layer):
    """Wraps a function of tensors as a layer: ``Lambda(lambda x: x * 2.0)``.

    Its output shape comes from ``output_shape`` (a tuple without the batch
    axis, or a function of the input shape) or by calling the function on
    zero-size arrays. A saved Lambda holds code, which loading never runs: load
    its model with ``load_weights`` after rebuilding it, as Keras's ``safe_mode``.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        output_shape: tuple[int | None, ...] | Callable[..., Any] | None = None,
        arguments: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(function):
            fail("Lambda", "function", "a callable", function, TypeError)
        super().__init__(**kwargs)
        self.function = function
        self.output_shape = output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any) -> Any:
        return self.function(inputs, **self.arguments)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if callable(self.output_shape):
            return self.output_shape(input_shape)
        if self.output_shape is not None:
            first = input_shape if symbolic.is_shape(input_shape) else symbolic.flatten(input_shape)[0]
            return (first[0], *self.output_shape)
        return super().compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "function": getattr(self.function, "__name__", repr(self.function))}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        raise ValueError(
            f"Lambda layer {config.get('name')!r} wraps Python code ({config.get('function')!r}), which highnn never "
            "loads from a file (as Keras's safe_mode). Rebuild the model in code and call load_weights, or replace "
            "the Lambda with a custom layer class passed in `custom_objects`."
        )
