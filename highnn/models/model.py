"""``Model``: a Layer that trains, summarises itself and saves; ``Model(inputs, outputs)`` builds a functional one."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from highnn import saving
from highnn.checks import fail
from highnn.distribution import local_view
from highnn.layers import LAYERS, symbolic
from highnn.layers.layer import Layer
from highnn.trainer import Trainer

Shape = tuple[int | None, ...]
SUMMARY_HEADERS = ("Layer (type)", "Output Shape", "Param #")


class Model(Trainer):
    """Subclass and define ``call`` for a custom model; it gains compile/fit/evaluate/predict."""

    def build(self, input_shape: Shape) -> None:
        """Build every sub-layer by running the model once on a zero example."""
        self.built = True
        self.compute_output_shape(input_shape)

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        """``hn.Model(inputs, outputs)`` builds a functional model; ``hn.Model()`` in a subclass, a custom one.

        A subclass called with symbolic inputs (``CustomModel(inputs, outputs)``, Keras's way to give a
        functional model its own ``train_step``) becomes a functional model of that subclass.
        """
        functional = LAYERS.lookup("Functional")  # registered by highnn.models.functional
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(functional)
        inputs, outputs = (list(args) + [kwargs.get("inputs"), kwargs.get("outputs")])[:2]
        if not issubclass(cls, functional) and symbolic.is_symbolic(inputs) and symbolic.is_symbolic(outputs):
            return super().__new__(_functional_subclass(cls, functional))
        return super().__new__(cls)

    @property
    def inputs(self) -> list[symbolic.SymbolicTensor]:
        """The model's symbolic inputs (functional models and Sequentials that start with an Input have them)."""
        raise AttributeError(f"{type(self).__name__} {self.name!r} has no symbolic inputs: it is a subclassed model.")

    @property
    def outputs(self) -> list[symbolic.SymbolicTensor]:
        """The model's symbolic outputs."""
        raise AttributeError(f"{type(self).__name__} {self.name!r} has no symbolic outputs: it is a subclassed model.")

    @property
    def input_shape(self) -> Any:
        """The shape of the model's symbolic input (batch None), a list of them for several inputs, as Keras's;
        a model without symbolic inputs (subclassed, or a Sequential without an Input) has none."""
        return _one_or_list([tensor.shape for tensor in self.inputs])

    @property
    def output_shape(self) -> Any:
        """The shape of the model's symbolic output, a list of them for several outputs, as Keras's."""
        return _one_or_list([tensor.shape for tensor in self.outputs])

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by ``name`` or by ``index`` (in :attr:`layers`)."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: give exactly one of `name` and `index`.")
        layers = self.layers
        if index is not None:
            if not isinstance(index, int) or not -len(layers) <= index < len(layers):
                fail("get_layer", "index", f"an int in [0, {len(layers)})", index, IndexError)
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}; the layers are {[layer.name for layer in layers]}.")

    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Print a table of layers, output shapes and parameter counts (and, for a graph, what feeds each)."""
        headers, rows = self.summary_rows()
        widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in enumerate(headers)]

        def rule(left: str, middle: str, right: str, fill: str = "━") -> str:
            return left + middle.join(fill * (w + 2) for w in widths) + right

        def cells(values: tuple[str, ...], edge: str = "│") -> str:
            return (
                edge
                + edge.join(f" {v:>{w}} " if i == 2 else f" {v:<{w}} " for i, (v, w) in enumerate(zip(values, widths)))
                + edge
            )

        total = self.count_params()
        trainable = sum(math.prod(w.shape) for w in self.trainable_weights)
        lines = [f'Model: "{self.name}"', rule("┏", "┳", "┓"), cells(headers, "┃"), rule("┡", "╇", "┩")]
        lines += [cells(row) for row in rows] + [rule("└", "┴", "┘", "─")]
        lines += [
            f" Total params: {total:,}",
            f" Trainable params: {trainable:,}",
            f" Non-trainable params: {total - trainable:,}",
        ]
        print_fn("\n".join(lines))

    def summary_rows(self) -> tuple[tuple[str, ...], list[Any]]:
        """The summary table's headers and rows."""
        rows = [
            (f"{layer.name} ({type(layer).__name__})", str(shape), f"{layer.count_params():,}")
            for layer, shape in self.layer_output_shapes()
        ]
        return SUMMARY_HEADERS, rows

    def layer_output_shapes(self) -> list[tuple[Layer, Shape | str]]:
        """Each layer with its output shape (``?`` where not known)."""
        return [(layer, "?") for layer in self.layers]

    def save(self, filepath: str | os.PathLike[str], overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights and optimizer state to a ``.highnn`` file; ``hn.models.load_model`` reads it."""
        local_view.on_chief(lambda: saving.save_model(self, filepath, overwrite, include_optimizer))

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Save the weights to a ``.weights.safetensors`` file."""
        local_view.on_chief(lambda: saving.save_weights(self, filepath, overwrite=overwrite))

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Set the weights, by position, from a ``.weights.safetensors`` or ``.highnn`` file."""
        saving.load_weights(self, filepath)


_functional_subclasses: dict[type[Model], type[Model]] = {}


def _functional_subclass(cls: type[Model], functional: type[Model]) -> type[Model]:
    """``cls`` with the functional model's graph behind it (its own methods first), made once per class."""
    if cls not in _functional_subclasses:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        _functional_subclasses[cls] = type(cls.__name__, (cls, functional), namespace)
    return _functional_subclasses[cls]


def _one_or_list(shapes: list[Any]) -> Any:
    return shapes[0] if len(shapes) == 1 else shapes
