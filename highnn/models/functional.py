"""``Functional``: a graph of layer calls from symbolic inputs to outputs, what ``hn.Model(inputs, outputs)`` builds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from highnn import losses
from highnn import metrics as metrics_module
from highnn.checks import fail
from highnn.graph import Tensor
from highnn.layers import LAYERS, core, symbolic
from highnn.layers.layer import Layer
from highnn.models.model import SUMMARY_HEADERS, Model, Shape
from highnn.models.outputs import OutputLoss, OutputMetric, OutputsLoss, per_output
from highnn.trainer import compiled_metrics, input_shape


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
            args, kwargs = node.arguments(lambda t: values[id(t)])
            out = node.layer(*args, **kwargs, training=training)
            values.update((id(t), v) for t, v in zip(node.flat_outputs, symbolic.flatten(out)))
        return symbolic.map_structure(lambda t: values[id(t)], self._output_structure)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes: dict[int, Any] = {}
        for tensor, shape in zip(self._flat_inputs, self._match_inputs(input_shape, symbolic.is_shape)):
            assert tensor.node is not None
            shapes[id(tensor)] = tensor.node.layer.compute_output_shape(tuple(shape))
        for node in self._nodes:
            if node.flat_inputs:
                args, kwargs = node.arguments(lambda t: symbolic.SymbolicTensor(shapes[id(t)], t.dtype))
                out = symbolic.output_shapes(node.layer, args, kwargs)
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
        weighted_metrics: Any = None,
        **kwargs: Any,
    ) -> None:
        """As ``Model.compile``; for several outputs, ``loss``, ``loss_weights`` and ``metrics`` may be lists
        (by output) or dicts (by output name), and a single loss or a flat list of metrics applies to every output."""
        if len(self._flat_outputs) == 1:
            if loss_weights is not None:
                fail("compile", "loss_weights", "None for a model of one output", loss_weights)
            super().compile(optimizer, loss, metrics, weighted_metrics, **kwargs)
            return
        names = self.output_keys
        per_loss = [losses.get(entry) if entry is not None else None for entry in per_output(loss, names, "loss")]
        weights = per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
            fail("compile", "loss_weights", "numbers, by output", loss_weights, TypeError)
        per_metrics = metrics_by_output(metrics, names, "metrics")
        per_weighted = metrics_by_output(weighted_metrics, names, "weighted_metrics")
        super().compile(optimizer, None, None, **kwargs)
        self.loss = OutputsLoss(per_loss, [float(w) for w in weights]) if any(per_loss) else None
        self._output_metric_entries = per_metrics
        self._output_weighted_metric_entries = per_weighted

    def _prepare(self, owner: str, arrays: dict[str, np.ndarray], argument: str = "y") -> None:
        if len(self._flat_outputs) == 1:
            super()._prepare(owner, arrays, argument)
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
            weighted = [True] * len(tracked)  # each output's loss weighs by sample_weight, as the total does
            for i, (name, entries, weighted_entries, target, shape) in enumerate(
                zip(
                    self.output_keys, self._output_metric_entries, self._output_weighted_metric_entries, targets, shapes
                )
            ):
                metrics, flags = compiled_metrics(entries, weighted_entries, target.shape, shape, per_loss[i])
                tracked += [OutputMetric(metric, i, f"{name}_{metric.name}") for metric in metrics]
                weighted += flags
            self.compiled_metrics, self._metric_weighted = tracked, weighted

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

        def call_config(node: symbolic.Node) -> dict[str, Any]:
            config: dict[str, Any] = {"layer": layer_position[id(node.layer)], "inputs": None}
            if node.flat_inputs:
                config["inputs"] = symbolic.map_structure(ref, node.args[0])
                if len(node.args) > 1:
                    config["args"] = _serialize_arguments(node, node.args[1:], ref)
                if node.kwargs:
                    config["kwargs"] = _serialize_arguments(node, node.kwargs, ref)
            return config

        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [LAYERS.serialize(layer) for layer in self._layers],
            "nodes": [call_config(node) for node in self._nodes],
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

        def resolve(structure: Any, constants: bool = False) -> Any:
            """Tensor references to the tensors made so far; plain JSON values too where ``constants``."""
            if isinstance(structure, dict) and set(structure) == {"node", "tensor"}:
                node, tensor = structure["node"], structure["tensor"]
                if not (isinstance(node, int) and isinstance(tensor, int) and 0 <= node < len(made)
                        and 0 <= tensor < len(made[node])):  # fmt: skip
                    raise ValueError(f"the tensor reference {structure!r:.100} names no earlier call's output")
                return made[node][tensor]
            if isinstance(structure, (list, dict)) and (structure or constants):
                items = structure.values() if isinstance(structure, dict) else structure
                resolved = [resolve(item, constants) for item in items]
                return dict(zip(structure, resolved)) if isinstance(structure, dict) else resolved
            if constants and (structure is None or isinstance(structure, (bool, int, float, str))):
                return structure
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
                args = resolve(call.get("args", []), constants=True)
                kwargs = resolve(call.get("kwargs", {}), constants=True)
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise ValueError(f"a node's `args` must be a list and its `kwargs` a dict, found {call!r:.100}")
                made.append(symbolic.flatten(layer(resolve(call["inputs"]), *args, **kwargs)))
        return cls(resolve(config.get("inputs")), resolve(config.get("outputs")), name=config.get("name"),
                   trainable=config.get("trainable", True))  # fmt: skip


def metrics_by_output(metrics: Any, names: list[str], argument: str) -> list[list[Any]]:
    """``compile``'s ``metrics`` or ``weighted_metrics`` for each output: a flat list applies to every output;
    a list of lists (by position) or a dict (by output name) gives each its own."""
    if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
        fail("compile", argument, "a list, or a dict by output name", metrics, TypeError)
    flat = metrics is None or (
        isinstance(metrics, (list, tuple)) and not any(isinstance(m, (list, tuple)) for m in metrics)
    )
    per = [list(metrics or [])] * len(names) if flat else per_output(metrics or [], names, argument)
    return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m] for m in per]


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


def _serialize_arguments(node: symbolic.Node, arguments: Any, ref: Callable[[Any], Any]) -> Any:
    """A call's further arguments for the config: tensor references and plain JSON values (a clear error else)."""
    if isinstance(arguments, symbolic.SymbolicTensor):
        return ref(arguments)
    if isinstance(arguments, (list, tuple)):
        return [_serialize_arguments(node, item, ref) for item in arguments]
    if isinstance(arguments, dict) and all(isinstance(key, str) for key in arguments):
        return {key: _serialize_arguments(node, item, ref) for key, item in arguments.items()}
    if arguments is None or isinstance(arguments, (bool, int, float, str)):
        return arguments
    raise ValueError(
        f"Layer {node.layer.name!r}: its call's argument {arguments!r:.80} cannot be saved; a functional model saves "
        "the tensors, numbers, strings, booleans and None passed to its layers' calls."
    )


def _shape_leaves(shapes: Any) -> list[Shape]:
    if symbolic.is_shape(shapes):
        return [shapes]
    return [s for item in (shapes.values() if isinstance(shapes, dict) else shapes) for s in _shape_leaves(item)]


def _shape_text(outputs: Any) -> str:
    """``(None, 8)``, or several shapes as a list."""
    shapes = [t.shape for t in symbolic.flatten(outputs)]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)
