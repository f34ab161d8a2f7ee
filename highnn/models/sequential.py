"""``Sequential``: a stack of layers, each feeding the next, as in the theory's feed-forward network."""

from __future__ import annotations

from typing import Any

from highnn.graph import Tensor
from highnn.layers import LAYERS, core, symbolic
from highnn.layers.layer import Layer
from highnn.models.model import Model, Shape


class Sequential(Model):
    """A stack of layers, each feeding the next: ``Sequential([Input((64,)), Dense(10)])``.

    An ``Input`` first builds the model at once; otherwise it is built from
    the first data it sees.
    """

    def __init__(
        self,
        layers: list[Layer | symbolic.SymbolicTensor] | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        super().__init__(name=name, trainable=trainable)
        self.build_input_shape: Shape | None = None
        self._built_output_shape: Shape | None = None  # after the last layer, while every layer is built
        for layer in layers or []:
            self.add(layer)

    @property
    def input_layer(self) -> core.InputLayer | None:
        first = self._layers[0] if self._layers else None
        return first if isinstance(first, core.InputLayer) else None

    @property
    def layers(self) -> list[Layer]:
        """The layers, without the Input (as in Keras)."""
        return [layer for layer in self._layers if not isinstance(layer, core.InputLayer)]

    def add(self, layer: Layer | symbolic.SymbolicTensor) -> None:
        """Append a layer (an ``Input`` may only come first)."""
        if isinstance(layer, symbolic.SymbolicTensor) and layer.node is not None:
            layer = layer.node.layer  # hn.Input(...) stands for its InputLayer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Layer, received {layer!r} of type {type(layer).__name__}.")
        if isinstance(layer, core.InputLayer) and self._layers:
            raise ValueError("Sequential.add: an Input can only be the first layer of a Sequential model.")
        if not self._layers and layer.input_shape_hint is not None:  # Dense(2, input_shape=(4,)) first, as in Keras
            self._layers.append(core.InputLayer(shape=layer.input_shape_hint))
        self._layers.append(layer)
        if self._built_output_shape is not None:  # build the new layer only: adding n layers costs O(n)
            self._built_output_shape = _build_layer(layer, self._built_output_shape)
        elif self.input_layer is not None:
            self.build(self.input_layer.batch_shape)

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise IndexError("Sequential.pop: the model has no layers.")
        self._built_output_shape = None
        return self._layers.pop()

    def build(self, input_shape: Shape) -> None:
        shape = tuple(input_shape)
        self.build_input_shape = shape
        for layer in self._layers:
            shape = _build_layer(layer, shape)
        self._built_output_shape = shape

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        x, mask = inputs, None
        for layer in self._layers:
            x, mask = layer(x, training=training, mask=mask), layer.compute_mask(x, mask)
        return x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._output_shapes(input_shape)[-1][1] if self.layers else tuple(input_shape)

    def layer_output_shapes(self, input_shape: Shape | None = None) -> list[tuple[Layer, Shape | str]]:
        shape = input_shape or self.build_input_shape
        if shape is None:
            return [(layer, "?") for layer in self.layers]
        return list(self._output_shapes(shape))

    def _output_shapes(self, shape: Shape) -> list[tuple[Layer, Shape]]:
        """Each layer after the Input with its output shape, checking ``shape`` against the Input."""
        shapes = []
        for layer in self._layers:
            if isinstance(layer, core.InputLayer):
                layer.check_shape(shape)
                continue
            shape = layer.compute_output_shape(shape)
            shapes.append((layer, shape))
        return shapes

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self._layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        layers = [LAYERS.deserialize(entry) for entry in config["layers"]]
        return cls(layers, name=config.get("name"), trainable=config.get("trainable", True))

    # ------------------------------------------- the symbolic graph of a model that starts with an Input
    @property
    def inputs(self) -> list[symbolic.SymbolicTensor]:
        """The Input's symbolic tensor, the layers called on it once so that each has an ``output``: a Keras
        Sequential that starts with an Input behaves like a functional model (feature extraction)."""
        first = self.input_layer
        if first is None:
            raise AttributeError(
                f"Sequential {self.name!r} has no Input, so no symbolic inputs: start it with hn.Input(shape=...)."
            )
        if getattr(self, "_symbolic_layers", None) != self.layers:
            x = first.output
            for layer in self.layers:
                x = layer(x)
            self._symbolic_layers, self._symbolic_output = self.layers, x
        return [first.output]

    @property
    def outputs(self) -> list[symbolic.SymbolicTensor]:
        """The last layer's symbolic output on the Input's chain."""
        return [self._symbolic_output] if self.inputs else []


def _build_layer(layer: Layer, shape: Shape) -> Shape:
    """Build ``layer`` for inputs of ``shape`` if it is not built yet; its output shape."""
    if not layer.built:
        layer.build(shape)
        layer.built = True
    return layer.compute_output_shape(shape)
