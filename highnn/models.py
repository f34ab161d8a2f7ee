"""Models: a Layer that trains. ``Sequential`` stacks layers; ``Model(inputs, outputs)`` runs a graph of layer calls."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from highnn import losses, saving
from highnn import metrics as metrics_module
from highnn.checks import fail
from highnn.graph import Tensor
from highnn.layers import LAYERS, core, symbolic
from highnn.layers.layer import Layer
from highnn.saving import load_model as load_model  # re-exported: highnn.models.load_model, as in Keras
from highnn.trainer import Trainer, input_shape

Shape = tuple[int | None, ...]
SUMMARY_HEADERS = ("Layer (type)", "Output Shape", "Param #")


class Model(Trainer):
    """Subclass and define ``call`` for a custom model; it gains compile/fit/evaluate/predict."""

    def build(self, input_shape: Shape) -> None:
        """Build every sub-layer by running the model once on a zero example."""
        self.built = True
        self.compute_output_shape(input_shape)

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        """``hn.Model(inputs, outputs)`` builds a functional model; ``hn.Model()`` in a subclass, a custom one."""
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            return super().__new__(Functional)
        return super().__new__(cls)

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
        saving.save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
        """Save the weights to a ``.weights.safetensors`` file."""
        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str | os.PathLike[str]) -> None:
        """Set the weights, by position, from a ``.weights.safetensors`` or ``.highnn`` file."""
        saving.load_weights(self, filepath)


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
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
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


class Functional(Model):
    """A graph of layer calls from symbolic inputs to outputs: what ``hn.Model(inputs, outputs)`` returns.

    >>> x = hn.Input(shape=(4,))
    >>> model = hn.Model(x, hn.layers.Dense(2)(hn.layers.Dense(8, activation="relu")(x)))

    Inputs and outputs may be one symbolic tensor, a list or a dict of them. The
    layer calls run in the order they were made (a topological order); a layer
    called twice shares its weights, and gradients from both calls add up.
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, trainable: bool = True) -> None:
        for argument, structure in (("inputs", inputs), ("outputs", outputs)):
            leaves = symbolic.flatten(structure)
            if not leaves or not all(isinstance(t, symbolic.SymbolicTensor) for t in leaves):
                fail("Model", argument, "a symbolic tensor (from hn.Input or a layer), or a list or dict of them",
                     structure, TypeError)  # fmt: skip
        for tensor in symbolic.flatten(inputs):
            if tensor.node is None or not isinstance(tensor.node.layer, core.InputLayer):
                raise ValueError(
                    f"Model: every one of `inputs` must come from hn.Input(...), received {tensor!r}, "
                    "the output of a layer."
                )
        super().__init__(name=name, trainable=trainable)
        self._input_structure = symbolic.map_structure(lambda t: t, inputs)
        self._output_structure = symbolic.map_structure(lambda t: t, outputs)
        self._flat_inputs: list[symbolic.SymbolicTensor] = symbolic.flatten(inputs)
        self._flat_outputs: list[symbolic.SymbolicTensor] = symbolic.flatten(outputs)
        self._nodes = _graph_nodes(self._flat_inputs, self._flat_outputs)
        self._layers = list(dict.fromkeys(node.layer for node in self._nodes))
        self.build_input_shape = None
        self.built = True

    @property
    def inputs(self) -> list[symbolic.SymbolicTensor]:
        return list(self._flat_inputs)

    @property
    def outputs(self) -> list[symbolic.SymbolicTensor]:
        return list(self._flat_outputs)

    @property
    def input(self) -> Any:
        """The model's symbolic inputs, as given (one, a list or a dict)."""
        return self._input_structure

    @property
    def output(self) -> Any:
        """The model's symbolic outputs, as given (one, a list or a dict)."""
        return self._output_structure

    @property
    def input_names(self) -> list[str]:
        return [t.node.layer.name for t in self._flat_inputs if t.node is not None]

    @property
    def output_names(self) -> list[str]:
        return [t.node.layer.name if t.node is not None else "" for t in self._flat_outputs]

    def call(self, inputs: Any, training: bool = False) -> Any:
        values: dict[int, Any] = {}
        for tensor, value in zip(self._flat_inputs, self._match_inputs(inputs, lambda v: isinstance(v, Tensor))):
            assert tensor.node is not None
            tensor.node.layer.check_shape(value.shape)  # type: ignore[attr-defined]
            values[id(tensor)] = value
        for node in self._nodes:
            if not node.flat_inputs:  # an input
                continue
            out = node.layer(symbolic.map_structure(lambda t: values[id(t)], node.inputs), training=training)
            values.update((id(t), v) for t, v in zip(node.flat_outputs, symbolic.flatten(out)))
        return symbolic.map_structure(lambda t: values[id(t)], self._output_structure)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes: dict[int, Any] = {}
        for tensor, shape in zip(self._flat_inputs, self._match_inputs(input_shape, symbolic.is_shape)):
            assert tensor.node is not None
            shapes[id(tensor)] = tensor.node.layer.compute_output_shape(tuple(shape))
        for node in self._nodes:
            if node.flat_inputs:
                out = node.layer.compute_output_shape(symbolic.map_structure(lambda t: shapes[id(t)], node.inputs))
                shapes.update((id(t), s) for t, s in zip(node.flat_outputs, _shape_leaves(out)))
        return symbolic.map_structure(lambda t: shapes[id(t)], self._output_structure)

    def _match_inputs(self, data: Any, is_leaf: Callable[[Any], bool]) -> list[Any]:
        """``data`` (one input, a list, or a dict by input key or name) in the order of :attr:`inputs`."""
        count = len(self._flat_inputs)
        if isinstance(data, dict):
            keys = list(self._input_structure) if isinstance(self._input_structure, dict) else self.input_names
            missing = [key for key in keys if key not in data]
            if missing:
                raise ValueError(f"Model {self.name!r}: the input dict has no entry for {missing}; it needs {keys}.")
            return [data[key] for key in keys]
        leaves = [data] if is_leaf(data) else list(data) if isinstance(data, (list, tuple)) else [data]
        if len(leaves) != count:
            raise ValueError(
                f"Model {self.name!r} expects {count} input(s) ({self.input_names}), received {len(leaves)}."
            )
        return leaves

    def predict_step(self, x: Any) -> list[Tensor]:
        return symbolic.flatten(self(x, training=False))

    def _join_predictions(self, outputs: list[np.ndarray]) -> Any:
        count = len(self._flat_outputs)
        joined = iter([np.concatenate(outputs[i::count]) for i in range(count)])
        return symbolic.map_structure(lambda _: next(joined), self._output_structure)

    def _split_inputs(self, x: Any) -> list[Any]:
        if len(self._flat_inputs) == 1 and not isinstance(x, dict):
            return [x]
        return self._match_inputs(x, lambda value: not isinstance(value, (list, tuple, dict)))

    def _split_targets(self, y: Any) -> list[Any]:
        if len(self._flat_outputs) == 1 and not isinstance(y, dict):
            return [y]
        names = self.output_keys
        if isinstance(y, dict):
            missing = [name for name in names if name not in y]
            if missing:
                raise ValueError(f"Model {self.name!r}: the targets have no entry for {missing}; it needs {names}.")
            return [y[name] for name in names]
        if not isinstance(y, (list, tuple)) or len(y) != len(names):
            raise ValueError(
                f"Model {self.name!r} has {len(names)} outputs ({names}): pass the targets as a list of "
                f"{len(names)} arrays or a dict keyed by those names."
            )
        return list(y)

    def _group_batch(self, batch: list[Any]) -> list[Any]:
        inputs, outputs = len(self._flat_inputs), len(self._flat_outputs)
        x = batch[0] if inputs == 1 else batch[:inputs]
        rest = batch[inputs:]
        if outputs > 1 and rest:  # targets follow the inputs (predict has none)
            rest = [rest[:outputs], *rest[outputs:]]
        return [x, *rest]

    @property
    def output_keys(self) -> list[str]:
        """What names each output in targets, losses and logs: the outputs dict's keys, else the layers' names."""
        if isinstance(self._output_structure, dict):
            return list(self._output_structure)
        seen: Counter[str] = Counter()
        keys = []
        for name in self.output_names:  # one layer's output twice: dense, dense_1
            keys.append(f"{name}_{seen[name]}" if seen[name] else name)
            seen[name] += 1
        return keys

    # ------------------------------------------------------------------ several outputs
    def compile(  # type: ignore[override]
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        """As ``Model.compile``; for several outputs, ``loss``, ``loss_weights`` and ``metrics`` may be lists
        (by output) or dicts (by output name), and a single loss or a flat list of metrics applies to every output."""
        if len(self._flat_outputs) == 1:
            if loss_weights is not None:
                fail("compile", "loss_weights", "None for a model of one output", loss_weights)
            super().compile(optimizer, loss, metrics, **kwargs)
            return
        names = self.output_keys
        per_loss = [losses.get(entry) if entry is not None else None for entry in _per_output(loss, names, "loss")]
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
            fail("compile", "loss_weights", "numbers, by output", loss_weights, TypeError)
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            fail("compile", "metrics", "a list, or a dict by output name", metrics, TypeError)
        flat_metrics = metrics is None or (
            isinstance(metrics, (list, tuple)) and not any(isinstance(m, (list, tuple)) for m in metrics)
        )
        per_metrics = (
            [list(metrics or [])] * len(names) if flat_metrics else _per_output(metrics or [], names, "metrics")
        )
        super().compile(optimizer, None, None, **kwargs)
        self.loss = OutputsLoss(per_loss, [float(w) for w in weights]) if any(per_loss) else None
        self._output_metric_entries = [m if isinstance(m, (list, tuple)) else [m] for m in per_metrics]

    def _prepare(self, arrays: dict[str, np.ndarray], training: bool = False) -> None:
        if len(self._flat_outputs) == 1:
            super()._prepare(arrays, training)
            return
        shapes = _shape_leaves(self.compute_output_shape(input_shape(arrays)))
        if "y" in arrays and self.compiled_metrics is None:
            targets = [arrays["y" if i == 0 else f"y_{i}"] for i in range(len(shapes))]
            per_loss = self.loss.per_output if isinstance(self.loss, OutputsLoss) else [None] * len(shapes)
            tracked: list[metrics_module.Metric] = []
            for i, (name, loss, target, shape) in enumerate(zip(self.output_keys, per_loss, targets, shapes)):
                if isinstance(loss, losses.SparseCategoricalCrossentropy) and shape[-1] is not None:
                    losses.check_sparse_labels(target, shape[-1], f"y[{name!r}]")
                if loss is not None:
                    tracked.append(OutputMetric(OutputLoss(loss), i, f"{name}_loss"))
            for i, (name, entries, target, shape) in enumerate(
                zip(self.output_keys, self._output_metric_entries, targets, shapes)
            ):
                for entry in entries:
                    metric = (metrics_module.accuracy_for(target.shape, shape, per_loss[i])(name=entry)
                              if isinstance(entry, str) and entry.lower() in metrics_module.ACCURACY_NAMES
                              else metrics_module.get(entry))  # fmt: skip
                    tracked.append(OutputMetric(metric, i, f"{name}_{metric.name}"))
            self.compiled_metrics = tracked
        if training and not self.optimizer.built:
            self.optimizer.build(self.trainable_weights)

    def layer_output_shapes(self) -> list[tuple[Layer, Shape | str]]:
        return [(node.layer, _shape_text(node.outputs)) for node in self._nodes]

    def summary_rows(self) -> tuple[tuple[str, ...], list[Any]]:
        """One row per layer call, with the calls that feed it (``layer[node][tensor]``)."""
        rows = []
        for node in self._nodes:
            sources = [
                f"{t.node.layer.name}[{t.node.layer._inbound_nodes.index(t.node)}][{t.index}]"
                for t in node.flat_inputs
                if t.node is not None
            ]
            layer = node.layer
            rows.append(
                (f"{layer.name} ({type(layer).__name__})", _shape_text(node.outputs), f"{layer.count_params():,}",
                 ", ".join(sources) or "-")
            )  # fmt: skip
        return SUMMARY_HEADERS + ("Connected to",), rows

    def get_config(self) -> dict[str, Any]:
        """Layers once each, then the calls in order; a tensor is ``{"node": k, "tensor": i}`` (output i of call k)."""
        layer_position = {id(layer): i for i, layer in enumerate(self._layers)}
        node_position = {id(node): k for k, node in enumerate(self._nodes)}

        def ref(t: symbolic.SymbolicTensor) -> dict[str, int]:
            return {"node": node_position[id(t.node)], "tensor": t.index}

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [LAYERS.serialize(layer) for layer in self._layers],
            "nodes": [
                {
                    "layer": layer_position[id(node.layer)],
                    "inputs": symbolic.map_structure(ref, node.inputs) if node.flat_inputs else None,
                }
                for node in self._nodes
            ],
            "inputs": symbolic.map_structure(ref, self._input_structure),
            "outputs": symbolic.map_structure(ref, self._output_structure),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], build_layer: Callable[[int, Any], Layer] | None = None) -> Functional:
        """Rebuild the graph: make each layer (with ``build_layer``, by default from the registry), replay the calls."""
        make = build_layer or (lambda position, entry: LAYERS.deserialize(entry))
        entries, calls = config.get("layers"), config.get("nodes")
        if not isinstance(entries, list) or not isinstance(calls, list):
            raise ValueError("a functional model config needs lists `layers` and `nodes`")
        layers = [make(position, entry) for position, entry in enumerate(entries)]
        made: list[list[symbolic.SymbolicTensor]] = []

        def resolve(structure: Any) -> Any:
            if isinstance(structure, dict) and set(structure) == {"node", "tensor"}:
                node, tensor = structure["node"], structure["tensor"]
                if not (isinstance(node, int) and isinstance(tensor, int) and 0 <= node < len(made)
                        and 0 <= tensor < len(made[node])):  # fmt: skip
                    raise ValueError(f"the tensor reference {structure!r:.100} names no earlier call's output")
                return made[node][tensor]
            if isinstance(structure, (list, dict)) and structure:
                items = structure.values() if isinstance(structure, dict) else structure
                resolved = [resolve(item) for item in items]
                return dict(zip(structure, resolved)) if isinstance(structure, dict) else resolved
            raise ValueError(f"a node's inputs must be tensor references, lists or dicts, found {structure!r:.100}")

        for call in calls:
            position = call.get("layer") if isinstance(call, dict) else None
            if not isinstance(position, int) or not 0 <= position < len(layers):
                raise ValueError(f"a node must name a layer by its position, found {call!r:.100}")
            layer = layers[position]
            if call.get("inputs") is None:
                if not isinstance(layer, core.InputLayer):
                    raise ValueError(f"a node without inputs must be an InputLayer's, found {type(layer).__name__}")
                made.append([layer.output])
            else:
                made.append(symbolic.flatten(layer(resolve(call["inputs"]))))
        return cls(resolve(config.get("inputs")), resolve(config.get("outputs")), name=config.get("name"),
                   trainable=config.get("trainable", True))  # fmt: skip


def _per_output(value: Any, names: list[str], argument: str) -> list[Any]:
    """``value`` for each output: a list by position, a dict by name (missing: None), anything else for all."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            fail("compile", argument, f"a dict keyed by output names {names}", f"keys {unknown}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            fail("compile", argument, f"a list of {len(names)} entries, one per output {names}", value)
        return list(value)
    return [value] * len(names)


class OutputsLoss(losses.Loss):
    """The loss of a model of several outputs: the sum of each output's loss times its weight.

    Targets come as a list by output; predictions as the model gives them (a list or a dict).
    """

    def __init__(self, per_output: list[losses.Loss | None], weights: list[float]) -> None:
        super().__init__(name="loss")
        self.per_output = per_output
        self.weights = weights

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        terms = [
            loss(target, prediction, sample_weight) * weight
            for loss, weight, target, prediction in zip(self.per_output, self.weights, y_true, symbolic.flatten(y_pred))
            if loss is not None
        ]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    def get_config(self) -> dict[str, Any]:
        return {
            "losses": [losses.serialize(loss) if loss is not None else None for loss in self.per_output],
            "loss_weights": self.weights,
        }


class OutputLoss(metrics_module.Metric):
    """The mean of a loss over the examples seen (one output's ``<name>_loss`` in the logs)."""

    def __init__(self, loss: losses.Loss) -> None:
        super().__init__(name=loss.name)
        self.loss = loss
        self.mean = metrics_module.Mean(name=loss.name)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.mean.update_state(self.loss(y_true, y_pred, sample_weight), sample_weight=float(y_pred.shape[0]))

    def result(self) -> Tensor:
        return self.mean.result()


class OutputMetric(metrics_module.Metric):
    """A metric of output ``index`` of a model of several, logged as ``name`` (``dense_1_accuracy``)."""

    def __init__(self, metric: metrics_module.Metric, index: int, name: str) -> None:
        super().__init__(name=name, dtype=metric.dtype)
        self.metric = metric
        self.index = index

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        self.metric.update_state(y_true[self.index], symbolic.flatten(y_pred)[self.index], sample_weight)

    def result(self) -> Tensor:
        return self.metric.result()


def _graph_nodes(inputs: list[symbolic.SymbolicTensor], outputs: list[symbolic.SymbolicTensor]) -> list[symbolic.Node]:
    """The nodes between ``inputs`` and ``outputs``, in creation order (a topological order).

    An output that depends on an ``Input`` not among ``inputs`` disconnects the graph: a clear error.
    """
    given = {id(t.node) for t in inputs}
    found: dict[int, symbolic.Node] = {}
    stack = [t.node for t in outputs if t.node is not None]
    while stack:
        node = stack.pop()
        if id(node) in found:
            continue
        found[id(node)] = node
        if not node.flat_inputs and id(node) not in given:
            raise ValueError(
                f"Graph disconnected: the outputs depend on input {node.layer.name!r}, which is not among the "
                f"model's inputs {[t.name for t in inputs]}."
            )
        if id(node) not in given:
            stack.extend(node.parents)
    missing = [t.name for t in inputs if id(t.node) not in found]
    if missing:
        raise ValueError(f"Model: the inputs {missing} are not connected to the outputs.")
    return sorted(found.values(), key=lambda node: node.serial)


def _shape_leaves(shapes: Any) -> list[Shape]:
    if symbolic.is_shape(shapes):
        return [shapes]
    return [s for item in (shapes.values() if isinstance(shapes, dict) else shapes) for s in _shape_leaves(item)]


def _shape_text(outputs: Any) -> str:
    """``(None, 8)``, or several shapes as a list."""
    shapes = [t.shape for t in symbolic.flatten(outputs)]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _build_layer(layer: Layer, shape: Shape) -> Shape:
    """Build ``layer`` for inputs of ``shape`` if it is not built yet; its output shape."""
    if not layer.built:
        layer.build(shape)
        layer.built = True
    return layer.compute_output_shape(shape)


# A model is a layer: saving (a layer above, which this module imports) finds model classes among the layers.
LAYERS.register_all((Sequential, Functional))
