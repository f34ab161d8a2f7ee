"""A model's config and compile config to JSON-ready dicts and back, through allow-lists only.

A saved config names classes (``{"class_name", "config"}``); loading looks each
name up in :class:`AllowList` (highnn's tables plus the caller's
``custom_objects``) and calls that class's ``from_config``: never an import
path, pickle or code. Model classes are found among the layer classes:
``highnn.models`` registers ``Sequential`` there, so saving needs no import of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from highnn import losses, metrics, optimizers
from highnn.checks import check_bool, check_choice, check_integer, check_seed, fail
from highnn.dtype_policies import POLICY_NAMES
from highnn.layers import LAYERS
from highnn.layers.layer import Layer, weight_budget
from highnn.registry import loading_with, lookup
from highnn.saving.archive import FORMAT_VERSION, Limits, SavedFileError, is_count
from highnn.version import __version__

if TYPE_CHECKING:
    from highnn.models import Model


def is_model_class(cls: Any) -> bool:
    """Whether ``cls`` is a model class: a Layer with the training API (``highnn.models.Model`` and subclasses)."""
    return isinstance(cls, type) and issubclass(cls, Layer) and callable(getattr(cls, "compile", None))


class AllowList:
    """The classes a file may name, by kind: highnn's registries plus the caller's ``custom_objects``.

    The one place that knows where the registries are. Functions in
    ``custom_objects`` stand for custom losses and metrics.
    """

    def __init__(self, custom_objects: Mapping[str, Any] | None) -> None:
        custom = dict(custom_objects or {})
        if not all(isinstance(key, str) and callable(obj) for key, obj in custom.items()):
            raise TypeError(f"`custom_objects` must map names (str) to classes or functions, received {custom!r:.300}.")
        self.custom = custom
        functions = {name: obj for name, obj in custom.items() if not isinstance(obj, type)}
        self.layers: dict[str, Any] = LAYERS.allowed(custom)
        self.models: dict[str, Any] = {name: cls for name, cls in self.layers.items() if is_model_class(cls)}
        self.optimizers: dict[str, Any] = optimizers.OPTIMIZERS.allowed(custom)
        self.losses: dict[str, Any] = {**losses.LOSSES.allowed(custom), **functions}
        self.metrics: dict[str, Any] = {**metrics.METRICS.allowed(custom), **functions}


# ------------------------------------------------------------------- saving
def model_config(model: Model) -> dict[str, Any]:
    """What ``config.json`` holds: versions, the model's class and config, its build and compile configs."""
    input_shape = getattr(model, "build_input_shape", None)
    return {
        "format_version": FORMAT_VERSION,
        "highnn_version": __version__,
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "build_config": {"input_shape": list(input_shape)} if input_shape is not None else None,
        "compile_config": _compile_config(model) if model.compiled else None,
    }


def _compile_config(model: Model) -> dict[str, Any]:
    per_output = getattr(model.loss, "per_output", None)  # a model of several outputs: losses, weights by output
    if per_output is not None:
        loss: Any = [_loss_entry(entry) for entry in per_output]
        by_output = getattr(model, "_output_metric_entries", [])
        metric_entries: Any = [[_metric_entry(entry) for entry in entries] for entries in by_output]
        weighted_by_output = getattr(model, "_output_weighted_metric_entries", [])
        weighted_entries: Any = [[_metric_entry(entry) for entry in entries] for entries in weighted_by_output]
    else:
        loss = _loss_entry(model.loss)
        metric_entries = [_metric_entry(entry) for entry in model._metric_entries]
        weighted_entries = [_metric_entry(entry) for entry in model._weighted_metric_entries]
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": loss,
        **({"loss_weights": model.loss.weights} if per_output is not None else {}),  # type: ignore[union-attr]
        "metrics": metric_entries,
        "weighted_metrics": weighted_entries,
        "run_eagerly": model.run_eagerly,
        "steps_per_execution": model.steps_per_execution,
        "jit_compile": model.jit_compile,
    }


def _loss_entry(loss: Any) -> Any:
    return _serialize_function_object(loss, losses.LossFunctionWrapper) if loss is not None else None


def _metric_entry(entry: Any) -> Any:
    return entry if isinstance(entry, str) else _serialize_function_object(entry, metrics.MeanMetricWrapper)


def _serialize_function_object(obj: Any, wrapper: type) -> dict[str, Any]:
    """A loss or metric as ``{"class_name", "config"}``.

    One wrapping a user's function (its config names no ``fn``) is saved
    under the function's name, which ``custom_objects`` maps back on loading.
    """
    config = obj.get_config()
    wraps_custom_function = type(obj) is wrapper and "fn" not in config
    return {"class_name": obj.fn.__name__ if wraps_custom_function else type(obj).__name__, "config": config}


# ------------------------------------------------------------------ loading
def _class_and_config(entry: Any, what: str) -> tuple[str, dict[str, Any]]:
    """``entry["class_name"]`` and ``entry["config"]``; any other field (``module``, ``registered_name``) is ignored."""
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("class_name"), str)
        or not isinstance(entry.get("config", {}), dict)
    ):
        raise ValueError(
            f"{what} must be an object with a string class_name and an object config, found {entry!r:.200}"
        )
    return entry["class_name"], entry.get("config", {})


def _deserialize(kind: str, entry: Any, table: Mapping[str, Any], wrapper: type | None = None) -> Any:
    """An object of an allow-listed class from ``{"class_name", "config"}``; a function is wrapped in ``wrapper``."""
    class_name, config = _class_and_config(entry, f"the {kind} entry")
    found: Any = lookup(kind, class_name, table)
    if wrapper is not None and not isinstance(found, type):
        return wrapper(found, **config)
    return found.from_config(config)


def model_from_config(
    config: dict[str, Any], allowed: AllowList, source: str, limits: Limits, weight_elements: int
) -> Model:
    """The model ``config.json`` describes, built (but not compiled) from allow-listed classes only.

    Every layer config's common fields are checked first (:func:`check_fields`),
    and building may create at most ``weight_elements`` weight elements in all
    (the number the file holds): a config cannot make highnn allocate what
    the file does not pay for.
    """
    version = config.get("format_version")
    if not is_count(version) or version == 0:
        raise SavedFileError(f"{source} has no valid format_version (found {version!r:.50}): not a highnn model file.")
    if version > FORMAT_VERSION:
        raise SavedFileError(
            f"{source} was written by a newer highnn (format version {version}; "
            f"this one reads up to {FORMAT_VERSION}): upgrade highnn."
        )
    try:
        class_name, config_of_model = _class_and_config(config, "the model")
        model_class = lookup("model class", class_name, allowed.models)
        with weight_budget(weight_elements), loading_with(allowed.custom):
            if issubclass(model_class, allowed.models["Sequential"]):  # its layers may be custom: built here
                layers = config_of_model.get("layers", [])
                if not isinstance(layers, list):
                    raise ValueError(f"the Sequential config's layers must be a list, found {layers!r:.200}")
                if len(layers) > limits.layers:
                    raise ValueError(f"it declares {len(layers)} layers, more than the limit of {limits.layers}")
                built = [_layer(position, entry, allowed) for position, entry in enumerate(layers)]
                check_fields(config_of_model, "the model")
                model = model_class(
                    built, name=config_of_model.get("name"), trainable=config_of_model.get("trainable", True)
                )
            elif issubclass(model_class, allowed.models["Functional"]):  # its layers too
                layers = config_of_model.get("layers", [])
                if isinstance(layers, list) and len(layers) > limits.layers:
                    raise ValueError(f"it declares {len(layers)} layers, more than the limit of {limits.layers}")
                check_fields(config_of_model, "the model")
                model = model_class.from_config(
                    config_of_model, build_layer=lambda at, entry: _layer(at, entry, allowed)
                )
            else:
                model = model_class.from_config(config_of_model)
            input_shape = (config.get("build_config") or {}).get("input_shape")
            if input_shape is not None and not model.built:
                model.build(_checked_input_shape(input_shape, limits.rank))
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as error:
        raise SavedFileError(f"{source}: cannot rebuild the model from its config: {error}") from error
    return model


def _layer(position: int, entry: Any, allowed: AllowList) -> Layer:
    """Layer ``position`` of a model's config, its common fields checked before it is constructed.

    A nested functional model's own layers go through the same checks and allow-list.
    """
    class_name, config = _class_and_config(entry, f"layer {position}")
    check_fields(config, f"layer {position} ({class_name})")
    layer_class = lookup("layer class", class_name, allowed.layers)
    if issubclass(layer_class, allowed.models["Functional"]):
        nested: Layer = layer_class.from_config(config, build_layer=lambda at, inner: _layer(at, inner, allowed))
        return nested
    layer: Layer = _deserialize("layer class", entry, allowed.layers)
    return layer


def check_fields(config: dict[str, Any], owner: str) -> None:
    """Check the fields every layer (and model) config shares, whatever its class, before anything is built.

    ``name`` is a string, ``trainable`` and every ``use_*`` flag a bool,
    ``dtype`` a float type or dtype policy name, ``batch_size`` a positive integer,
    ``seed`` an integer in ``[0, 2**32)`` (each may be null except ``trainable``
    and the flags). Class-specific fields are left to the constructors.
    """
    for field, value in config.items():
        if field in ("name", "dtype", "batch_size", "seed") and value is None:
            continue
        if field == "name" and not isinstance(value, str):
            fail(owner, field, "a string", value, TypeError)
        elif field == "trainable" or field.startswith("use_"):
            check_bool(owner, field, value)
        elif field == "dtype":
            check_choice(owner, field, value, POLICY_NAMES)
        elif field == "batch_size":
            check_integer(owner, field, value, 1)
        elif field == "seed":
            check_seed(owner, value)


def _checked_input_shape(shape: Any, max_rank: int) -> tuple[int | None, ...]:
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= max_rank
        or not all(n is None or (is_count(n) and n > 0) for n in shape)
    ):
        raise ValueError(f"build_config.input_shape must be a list of positive integers or nulls, found {shape!r:.200}")
    return tuple(shape)


def compile_from_config(model: Model, compile_config: Any, allowed: AllowList, source: str) -> None:
    """Compile ``model`` as ``compile_config`` says, with allow-listed optimizer, loss and metrics."""
    try:
        if not isinstance(compile_config, dict):
            raise ValueError(f"compile_config must be an object, found {compile_config!r:.200}")
        loss_entry, metric_entries = compile_config.get("loss"), compile_config.get("metrics") or []
        if not isinstance(metric_entries, list):
            raise ValueError(f"compile_config.metrics must be a list, found {metric_entries!r:.200}")

        def loss(entry: Any) -> Any:
            return None if entry is None else _deserialize("loss", entry, allowed.losses, losses.LossFunctionWrapper)

        def metric(entry: Any) -> Any:
            if isinstance(entry, list):  # one list per output
                return [metric(item) for item in entry]
            return (
                entry
                if isinstance(entry, str)
                else _deserialize("metric", entry, allowed.metrics, metrics.MeanMetricWrapper)
            )

        by_output = {"loss_weights": compile_config["loss_weights"]} if "loss_weights" in compile_config else {}
        weighted_entries = compile_config.get("weighted_metrics") or []
        if not isinstance(weighted_entries, list):
            raise ValueError(f"compile_config.weighted_metrics must be a list, found {weighted_entries!r:.200}")
        compiled_loss: Any = [loss(e) for e in loss_entry] if isinstance(loss_entry, list) else loss(loss_entry)
        model.compile(
            optimizer=_deserialize("optimizer", compile_config.get("optimizer"), allowed.optimizers),
            loss=compiled_loss,
            metrics=[metric(entry) for entry in metric_entries],
            weighted_metrics=[metric(entry) for entry in weighted_entries],
            **by_output,
            run_eagerly=compile_config.get("run_eagerly", False) is True,
            steps_per_execution=_positive_int(compile_config.get("steps_per_execution", 1)),
            jit_compile=compile_config.get("jit_compile", "auto"),
        )
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise SavedFileError(
            f"{source}: cannot compile the model from its compile_config: {error}. "
            "Pass the missing classes or functions in `custom_objects`, or load with compile=False."
        ) from error


def _positive_int(value: Any) -> int:
    if not is_count(value) or value == 0:
        raise ValueError(f"steps_per_execution must be a positive integer, found {value!r:.50}")
    return value
