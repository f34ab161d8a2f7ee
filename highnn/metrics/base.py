"""The metric base class, the (weighted) mean and the wrapper that averages a function of (y_true, y_pred).

Also the small tensor helpers every metric family shares: rank alignment of
labels and predictions, division that reports 0 for an empty metric, and the
"no data yet" check of metrics whose state is shaped by their first batch.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from highnn.checks import check_choice, fail, is_real
from highnn.config import FLOAT_TYPES, settings
from highnn.graph import Tensor, no_grad
from highnn.initializers import Initializer
from highnn.initializers import get as get_initializer
from highnn.layers.layer import snake_case
from highnn.ops import composites as C
from highnn.ops.primitives import broadcast_to, cast, reshape, sum, to_tensor, where
from highnn.registry import lookup
from highnn.variables import Variable

#: The functions a MeanMetricWrapper's config names, by name: highnn's metric functions and the loss functions
#: no metric function shares a name with (filled by the package).
FUNCTIONS: dict[str, Callable[..., Tensor]] = {}


class Metric:
    """Accumulates with ``update_state(y_true, y_pred, sample_weight=None)`` and reports ``result()``.

    Subclasses create their state with :meth:`add_variable` and change it with
    ``variable.assign(...)`` only, so the update can be traced into a compiled
    step. ``update_state`` runs without recording gradients. Variables and
    metrics held in attributes (directly or in lists, tuples and dicts) are
    part of the state: :attr:`variables` lists them, :meth:`reset_state` zeroes
    them, and copies (``copy.deepcopy``, ``pickle``) carry their values.

    >>> class PositivePredictions(hn.metrics.Metric):
    ...     def __init__(self, name="positive_predictions", dtype=None):
    ...         super().__init__(name, dtype)
    ...         self.total = self.add_variable((), name="total")
    ...     def update_state(self, y_true, y_pred, sample_weight=None):
    ...         self.total.assign_add(hn.ops.sum(hn.ops.cast(hn.ops.greater(y_pred, 0.5), self.dtype)))
    ...     def result(self):
    ...         return self.total
    """

    def __init__(self, name: str | None = None, dtype: str | None = None) -> None:
        dtype = dtype or settings.floatx
        check_choice(type(self).__name__, "dtype", dtype, FLOAT_TYPES)
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self._variables: list[Variable] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "update_state" in cls.__dict__:
            cls.update_state = _without_gradients(cls.__dict__["update_state"])  # type: ignore[method-assign]

    def add_variable(
        self,
        shape: Sequence[int],
        initializer: str | Initializer = "zeros",
        dtype: str | None = None,
        name: str | None = None,
    ) -> Variable:
        """A non-trainable state variable, reset to zeros by :meth:`reset_state`."""
        name = name or f"variable_{len(self._variables)}"
        dtype = dtype or self.dtype
        value = get_initializer(initializer)(tuple(shape), dtype)
        variable = Variable(value, name=name, trainable=False, dtype=dtype, path=f"{self.name}/{name}")
        self._variables.append(variable)
        return variable

    @property
    def variables(self) -> list[Variable]:
        """The state: this metric's variables (attribute order), then those of the metrics it holds."""
        own: dict[int, Variable] = {}
        held: dict[int, Metric] = {}
        for item in _held(self.__dict__):
            if isinstance(item, Variable):
                own.setdefault(id(item), item)
            elif item is not self:
                held.setdefault(id(item), item)
        for metric in held.values():
            for variable in metric.variables:
                own.setdefault(id(variable), variable)
        return list(own.values())

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Fold one batch into the state."""
        raise NotImplementedError(f"{type(self).__name__} must define update_state().")

    def result(self) -> Tensor:
        """The metric's value from the state seen so far."""
        raise NotImplementedError(f"{type(self).__name__} must define result().")

    def reset_state(self) -> None:
        """Zero every state variable, sub-metrics' too (``fit`` does this at the start of every epoch)."""
        for variable in self.variables:
            variable.assign(np.zeros(variable.shape))

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """Update with one batch and return the running result."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    def __deepcopy__(self, memo: dict[int, Any]) -> Metric:
        """An independent metric with the same state: every variable (sub-metrics' too) copied once."""
        for variable in self.variables:
            if id(variable) not in memo:
                memo[id(variable)] = _FrozenVariable(variable).thaw()
        twin = type(self).__new__(type(self))
        memo[id(self)] = twin
        twin.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return twin

    def __getstate__(self) -> dict[str, Any]:
        """For pickle: the attributes, with each variable (also in lists, tuples, dicts) as its values."""
        frozen: dict[int, _FrozenVariable] = {}
        return {key: _map_variables(value, lambda v: frozen.setdefault(id(v), _FrozenVariable(v)))
                for key, value in self.__dict__.items()}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({key: _map_variables(value, _FrozenVariable.thaw) for key, value in state.items()})


def _held(value: Any) -> Iterator[Variable | Metric]:
    """The variables and metrics in ``value``: itself, or inside (nested) lists, tuples and dict values."""
    if isinstance(value, (Variable, Metric)):
        yield value
    elif isinstance(value, (list, tuple, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _held(item)


def _map_variables(value: Any, change: Callable[[Any], Any]) -> Any:
    """``value`` with ``change`` applied to each variable (or frozen variable) in it, containers rebuilt."""
    if isinstance(value, (Variable, _FrozenVariable)):
        return change(value)
    if type(value) in (list, tuple):
        return type(value)(_map_variables(item, change) for item in value)
    if type(value) is dict:
        return {key: _map_variables(item, change) for key, item in value.items()}
    return value


class _FrozenVariable:
    """A metric variable's values as a NumPy array (for copies and pickles), rebuilt on the active backend."""

    def __init__(self, variable: Variable) -> None:
        self.value, self.name, self.path = variable.numpy(), variable.name or "", variable.path
        self.variable: Variable | None = None

    def thaw(self) -> Variable:
        """The one variable this stands for (the same object wherever a pickle held it)."""
        if self.variable is None:
            self.variable = Variable(
                self.value, self.name, trainable=False, dtype=str(self.value.dtype), path=self.path
            )
        return self.variable


def _without_gradients(update_state: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(update_state)
    def update(self: Metric, *args: Any, **kwargs: Any) -> None:
        with no_grad():
            update_state(self, *args, **kwargs)

    return update


def check_built(metric: Any) -> None:
    """A metric whose state is shaped by its first batch has no result before one."""
    if not metric.built:
        raise ValueError(f"{type(metric).__name__} has seen no data yet: call update_state() first.")


def safe_divide(a: Tensor, b: Tensor) -> Tensor:
    """a / b, and 0 where b is 0 (Keras's divide_no_nan: an empty metric reports 0)."""
    zero = b == 0.0
    return where(zero, 0.0, a / where(zero, 1.0, b))


def same_rank(x1: Tensor, x2: Tensor, expand_rank_1: bool = True) -> tuple[Tensor, Tensor]:
    """Keras's squeeze_or_expand_to_same_rank: drop or add a trailing axis of 1 where ranks differ by one."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            return x1, reshape(x2, x2.shape + (1,))
        return reshape(x1, x1.shape[:-1]), x2
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            return reshape(x1, x1.shape + (1,)), x2
        return x1, reshape(x2, x2.shape[:-1])
    return x1, x2


def aligned(y_true: Any, y_pred: Any, dtype: str | None = None) -> tuple[Tensor, Tensor]:
    """Both as tensors of one rank; y_true in y_pred's dtype (or both in ``dtype``)."""
    y_pred = to_tensor(y_pred) if dtype is None else cast(to_tensor(y_pred), dtype)
    y_true = cast(to_tensor(y_true), y_pred.dtype)
    return same_rank(y_true, y_pred)


def float_dtype(x: Any) -> str:
    """``x``'s dtype if it is a float one, else floatx: where integer labels and predictions are computed with."""
    dtype = to_tensor(x).dtype
    return dtype if dtype in FLOAT_TYPES else settings.floatx


def value_rows(y_true: Any, y_pred: Any, dtype: str | None = None) -> tuple[Tensor, Tensor]:
    """As :func:`aligned`, with a last axis of values for each example (1-D inputs are one value per example).

    The per-example functions average that axis, as the loss functions do.
    """
    y_true, y_pred = aligned(y_true, y_pred, dtype)
    if y_pred.ndim > 1:
        return y_true, y_pred
    return reshape(y_true, y_true.shape + (1,)), reshape(y_pred, y_pred.shape + (1,))


class Mean(Metric):
    """The (weighted) mean of all values seen, one value per example.

    Values with more than one axis are first averaged per example, as Keras
    does; ``sample_weight`` weighs examples (or, with the values' shape, each
    value); a scalar weight weighs the whole batch.

    >>> m = hn.metrics.Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    def __init__(self, name: str = "mean", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_variable((), name="total")
        self.count = self.add_variable((), name="count")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = to_tensor(values)
        if not values.ndim and values.dtype == self.dtype and (sample_weight is None or is_real(sample_weight)):
            # one scalar (a batch's loss) weighted by a number: the same sums, without reducing or broadcasting
            self.total.assign_add(values if sample_weight is None else values * float(sample_weight))
            self.count.assign_add(1.0 if sample_weight is None else float(sample_weight))
            return
        values, weights = per_example(self.name, values, sample_weight, self.dtype, C.mean)
        self.total.assign_add(sum(values))
        if weights is not None:
            self.count.assign_add(sum(weights))
        else:
            self.count.assign_add(float(values.shape[0]) if values.ndim else 1.0)

    def result(self) -> Tensor:
        return safe_divide(self.total, self.count)


class Sum(Metric):
    """The (weighted) sum of all values seen.

    ``sample_weight`` as for :class:`Mean`. Like ``Mean`` it takes values, not
    ``(y_true, y_pred)``, so it is fed by hand rather than through ``compile``.

    >>> m = hn.metrics.Sum()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    4.0
    """

    def __init__(self, name: str = "sum", dtype: str | None = None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_variable((), name="total")

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        self.total.assign_add(sum(per_example(self.name, values, sample_weight, self.dtype, sum)[0]))

    def result(self) -> Tensor:
        return self.total


def per_example(
    owner: str, values: Any, sample_weight: Any, dtype: str, reduce: Callable[..., Tensor]
) -> tuple[Tensor, Tensor | None]:
    """Keras's reduce_to_samplewise_values: one (weighted) value per example and, if weighted, each one's weight.

    Values with more axes than the weights are first reduced (``reduce``: mean
    or sum) down to the weights' rank; the weights are broadcast to what is
    left, multiplied in, and both are reduced to one entry per example.
    """
    values = cast(to_tensor(values), dtype)
    if sample_weight is None:
        return _reduce_from(values, 1, reduce), None
    weights = cast(to_tensor(sample_weight), dtype)
    values, weights = same_rank(values, weights)
    values = _reduce_from(values, weights.ndim, reduce)
    if not _broadcasts_to(weights.shape, values.shape):
        raise ValueError(
            f"{owner}: `sample_weight` of shape {weights.shape} does not fit values of shape {values.shape}."
        )
    weights = broadcast_to(weights, values.shape)
    return _reduce_from(values * weights, 1, reduce), _reduce_from(weights, 1, reduce)


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _reduce_from(x: Tensor, first_axis: int, reduce: Callable[..., Tensor]) -> Tensor:
    """``reduce`` over every axis from ``first_axis`` on (``x`` itself if it has no such axis)."""
    return x if x.ndim <= first_axis else reduce(x, axis=tuple(range(first_axis, x.ndim)))


class MeanMetricWrapper(Mean):
    """The mean of ``fn(y_true, y_pred, **kwargs)`` (one value per example) over every example seen.

    >>> m = hn.metrics.MeanMetricWrapper(lambda t, p: abs(t - p), name="abs_error")
    """

    def __init__(
        self, fn: Callable[..., Any], name: str | None = None, dtype: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name or str(getattr(fn, "__name__", "mean_metric_wrapper")), dtype)
        self.fn, self.fn_kwargs = fn, kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self) -> dict[str, Any]:
        """The config; ``fn`` is named when it is one of highnn's metric functions."""
        named = {"fn": self.fn.__name__} if FUNCTIONS.get(getattr(self.fn, "__name__", "")) is self.fn else {}
        return {**super().get_config(), **named, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """The wrapper a config describes; ``fn`` is a function's name, or Keras's ``{"config": name, ...}`` for it."""
        config = dict(config)
        if "fn" not in config:
            raise ValueError(f"{cls.__name__}.from_config: the config names no `fn`; received keys {sorted(config)}.")
        fn = config.pop("fn")
        name = fn.get("config") if isinstance(fn, dict) else fn
        if not isinstance(name, str):
            fail(
                cls.__name__, "fn", "the name of a metric function, or a serialized function naming one", fn, TypeError
            )
        return cls(lookup("metric function", name, FUNCTIONS), **config)


class FunctionMean(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the subclass; its options are its config."""

    function: ClassVar[Callable[..., Tensor]]

    def __init__(self, name: str, dtype: str | None, **options: Any) -> None:
        super().__init__(type(self).function, name, dtype, **options)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)
