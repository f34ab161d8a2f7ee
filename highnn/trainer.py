"""compile / fit / evaluate / predict: the training loops that :class:`highnn.Model` inherits.

The train step reads like eager code (forward, loss, ``grad``, optimizer and
metric updates) and is traced once per input signature into a pure program
``(variables, batch) -> new variables`` that later steps replay (see
``highnn.tracing``); ``compile(run_eagerly=True)`` runs it op by op instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from highnn import losses, optimizers
from highnn import metrics as metrics_module
from highnn.backends import to_host
from highnn.callbacks.base import Callback, CallbackList, History, Logs, ProgbarLogger
from highnn.checks import check_bool, check_choice, check_integer, check_number, fail, is_integer
from highnn.config import settings
from highnn.data import Batches, check_batch_size, check_steps, prepare, split_validation
from highnn.graph import Tensor, grad
from highnn.layers.layer import Layer
from highnn.tracing import TracedFunction


class Trainer(Layer):
    """The Keras training API of :class:`highnn.Model`: a Layer that compiles, fits, evaluates and predicts."""

    compiled = False
    _initial_epoch_override: int | None = None  # set by BackupAndRestore when it resumes a run
    optimizer: optimizers.Optimizer
    loss: losses.Loss | None

    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "rmsprop",
        loss: str | losses.Loss | Callable[..., Tensor] | None = None,
        metrics: list[Any] | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
    ) -> None:
        """Choose the optimizer, loss and metrics (strings as in Keras: ``"adam"``, ``"mse"``, ``"accuracy"``).

        ``jit_compile``: ``"auto"`` uses each backend's default (``jax.jit`` on
        JAX; the plain plan on PyTorch and NumPy); ``True`` also asks PyTorch for
        ``torch.compile``; ``False`` turns ``jax.jit`` off.
        """
        self.optimizer = optimizers.get(optimizer)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(self.optimizer, optimizers.LossScaleOptimizer):
            self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)  # as Keras: float16 gradients need scaling
        self.loss = losses.get(loss) if loss is not None else None
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"`metrics` must be a list, received {metrics!r}.")
        self._metric_entries = [
            m if isinstance(m, str) and m.lower() in metrics_module.ACCURACY_NAMES else metrics_module.get(m)
            for m in metrics or []
        ]
        self.compiled_metrics: list[metrics_module.Metric] | None = None
        self.loss_tracker = metrics_module.Mean("loss")
        check_choice("compile", "jit_compile", jit_compile, (True, False, "auto"))
        self.run_eagerly = run_eagerly
        self.jit_compile = jit_compile
        self.steps_per_execution = check_integer("compile", "steps_per_execution", steps_per_execution, 1)
        self._functions: dict[tuple[str, int], Callable[..., list[Any]]] = {}
        self.compiled = True
        self.stop_training = False

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the compiled steps, which a copy traces again."""
        state = dict(self.__dict__)
        state.pop("_functions", None)
        return state

    # ------------------------------------------------------------- the steps
    def compute_loss(self, x: Tensor | None, y: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        """The compiled loss plus every regularisation penalty of the model."""
        if self.loss is None:
            raise ValueError("The model has no loss: pass `loss=` to compile().")
        total = self.loss(y, y_pred, sample_weight)
        for penalty in self.losses:
            total = total + penalty
        return total

    def train_step(self, x: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> list[Tensor]:
        """One step of minibatch gradient descent (Algorithm 2.2) on one batch."""
        y_pred = self(x, training=True)
        loss = self.compute_loss(x, y, y_pred, sample_weight)
        weights = self.trainable_weights
        # metrics first: a metric that fails while the step is traced leaves the weights as they were
        self._update_metrics(loss, x, y, y_pred, sample_weight)
        self.optimizer.apply(grad(self.optimizer.scale_loss(loss), weights), weights)
        return []

    def test_step(self, x: Tensor, y: Tensor, sample_weight: Tensor | None = None) -> list[Tensor]:
        y_pred = self(x, training=False)
        self._update_metrics(self.compute_loss(x, y, y_pred, sample_weight), x, y, y_pred, sample_weight)
        return []

    def predict_step(self, x: Tensor) -> list[Tensor]:
        return [self(x, training=False)]

    def _update_metrics(self, loss: Tensor, x: Tensor, y: Tensor, y_pred: Tensor, sample_weight: Tensor | None) -> None:
        first_target = y[0] if isinstance(y, list) else y
        self.loss_tracker.update_state(loss, sample_weight=float(first_target.shape[0]))
        for metric in self.compiled_metrics or []:
            metric.update_state(y, y_pred, sample_weight)

    def _function(self, kind: str, arity: int) -> Callable[..., list[Any]]:
        """The train, test or predict step over any number of batches of ``arity`` arrays each.

        ``steps_per_execution`` batches go into one call, so one traced program
        (one ``jax.jit`` on JAX) runs several steps. Traced unless run_eagerly.
        """
        functions = self.__dict__.setdefault("_functions", {})
        function = functions.get((kind, arity))
        if function is None:
            step_of_kind: dict[str, Callable[..., list[Tensor]]] = {
                "train": self.train_step,
                "test": self.test_step,
                "predict": self.predict_step,
            }
            step = step_of_kind[kind]

            def steps(*tensors: Tensor) -> list[Tensor]:
                outputs: list[Tensor] = []
                for start in range(0, len(tensors), arity):
                    outputs += step(*self._group_batch(list(tensors[start : start + arity])))
                return outputs

            if getattr(self, "run_eagerly", False):
                function = lambda *arrays: [t.value for t in steps(*(Tensor(a) for a in arrays))]  # noqa: E731
            else:
                jit_compile = getattr(self, "jit_compile", "auto")
                function = TracedFunction(steps, jit=None if jit_compile == "auto" else bool(jit_compile))
            function = functions.setdefault((kind, arity), function)  # threads racing here share the first one
        return function

    def _execute(self, kind: str, batches: Iterator[list[Any]], callback_list: CallbackList) -> Iterator[list[Any]]:
        """Run the step on ``batches``, ``steps_per_execution`` at a time, calling the batch hooks; yields outputs."""
        begin_hook, end_hook = f"on_{kind}_batch_begin", f"on_{kind}_batch_end"
        wants_begin, wants_end = callback_list.wants(begin_hook), callback_list.wants(end_hook)
        per_call = getattr(self, "steps_per_execution", 1)
        step = 0
        for group in _groups(batches, per_call):
            if wants_begin:
                getattr(callback_list, begin_hook)(step, {})
            outputs = self._function(kind, len(group[0]))(*(a for batch in group for a in batch))
            step += len(group)
            if wants_end:
                getattr(callback_list, end_hook)(step - 1, self.get_metrics_result() if kind != "predict" else {})
            yield outputs
            if kind == "train" and self.stop_training:
                return

    # -------------------------------------------------------------- metrics
    @property
    def metrics(self) -> list[metrics_module.Metric]:
        return [self.loss_tracker] + list(self.compiled_metrics or [])

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> Logs:
        """Every metric's current result as a float: ``{"loss": ..., "accuracy": ...}``."""
        return {metric.name: _log_value(metric.result().numpy()) for metric in self.metrics}

    def _prepare(self, owner: str, arrays: dict[str, np.ndarray], argument: str = "y") -> None:
        """Build the model, check ``x``'s shape and the labels against the loss and every metric.

        ``"accuracy"`` is resolved to Keras's choice on the first labels seen.
        Nothing changes when a check fails (besides building an unbuilt model).
        """
        if not self.built:
            self.build((None,) + arrays["x"].shape[1:])
        output_shape = self.compute_output_shape(input_shape(arrays))
        if "y" not in arrays:
            return
        y = arrays["y"]
        metrics = self.compiled_metrics
        if metrics is None:
            metrics = [
                metrics_module.accuracy_for(y.shape, output_shape, self.loss)(name=entry)
                if isinstance(entry, str) else entry
                for entry in self._metric_entries
            ]  # fmt: skip
        for user in [self.loss, *metrics]:
            _check_labels(owner, argument, y, output_shape, user)
        self.compiled_metrics = metrics

    # several inputs and outputs: ``x`` travels as arrays "x", "x_1", ..., ``y`` as "y", "y_1", ...; steps regroup them
    def _input_arrays(self, x: Any) -> dict[str, Any]:
        """``{"x": x}``; for a model of several inputs, ``{"x": first, "x_1": second, ...}`` in input order."""
        return {"x" if i == 0 else f"x_{i}": part for i, part in enumerate(self._split_inputs(x))}

    def _target_arrays(self, y: Any) -> dict[str, Any]:
        """``{"y": y}``; for a model of several outputs, ``{"y": first, "y_1": second, ...}`` in output order."""
        return {"y" if i == 0 else f"y_{i}": part for i, part in enumerate(self._split_targets(y))}

    def _split_targets(self, y: Any) -> list[Any]:
        """The targets, one array per output (a model of one output takes ``y`` whole)."""
        return [y]

    def _split_inputs(self, x: Any) -> list[Any]:
        """The model's inputs, one array each (a model of one input takes ``x`` whole)."""
        return [x]

    def _group_batch(self, batch: list[Any]) -> list[Any]:
        """A batch ``[x, y, ...]`` as a step takes it (several inputs, or targets, become one list each)."""
        return batch

    def _join_predictions(self, outputs: list[np.ndarray]) -> Any:
        """One array from the predict steps' outputs, batch after batch (a model of several outputs: one each)."""
        return np.concatenate(outputs)

    def _check_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before {method}().")

    # ------------------------------------------------------------ the loops
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: str | int = "auto",
        callbacks: list[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[Any, ...] | None = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` passes of minibatch gradient descent; returns a :class:`History`.

        Every argument and the data are checked before anything changes: a
        failed call leaves the weights and the optimizer as they were.
        """
        self._check_compiled("fit")
        batch_size = check_batch_size("fit", batch_size)
        epochs = check_integer("fit", "epochs", epochs, 0)
        initial_epoch = check_integer("fit", "initial_epoch", initial_epoch, 0)
        steps_per_epoch = check_steps("fit", "steps_per_epoch", steps_per_epoch)
        validation_steps = check_steps("fit", "validation_steps", validation_steps)
        validation_freq = check_integer("fit", "validation_freq", validation_freq, 1)
        verbose = _check_verbose("fit", verbose)
        shuffle = check_bool("fit", "shuffle", shuffle)
        if y is None:
            raise ValueError("fit() needs targets: pass `y`.")
        arrays = prepare({**self._input_arrays(x), **self._target_arrays(y), "sample_weight": sample_weight}, "fit")
        if class_weight is not None:
            arrays["sample_weight"] = _class_weights(arrays["y"], class_weight) * arrays.get("sample_weight", 1.0)
        validation = None
        if validation_data is not None:
            validation = _unpack_validation(validation_data)
            validation = prepare(
                {**self._input_arrays(validation.pop("x")), **self._target_arrays(validation.pop("y")), **validation},
                "fit",
            )
        elif validation_split:
            arrays, validation = split_validation(arrays, validation_split)
        self._prepare("fit", arrays)
        batches = Batches(arrays, batch_size, shuffle=shuffle, names=tuple(arrays))
        logged = list(self.metrics_names)
        if validation is not None:
            self._prepare("fit", validation, "validation_data")
            val_batch_size = check_batch_size("fit", validation_batch_size, "validation_batch_size", batch_size)
            val_batches = Batches(validation, val_batch_size, names=tuple(validation))
            val_total = min(validation_steps or len(val_batches), len(val_batches))
            logged += [f"val_{name}" for name in logged]
        steps = steps_per_epoch or len(batches)
        history = History()
        callback_list = CallbackList(
            [ProgbarLogger(verbose)] * (verbose > 0) + _check_callbacks("fit", callbacks) + [history],
            self,
            {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size, "metrics": logged},
        )
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_weights)
        stream = _endless(batches) if steps_per_epoch else None
        self.stop_training = False
        epoch_logs: Logs = {}
        callback_list.on_train_begin({})
        if self._initial_epoch_override is not None:
            initial_epoch, self._initial_epoch_override = self._initial_epoch_override, None
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch, {})
            epoch_batches = (next(stream) for _ in range(steps)) if stream is not None else iter(batches)
            for _ in self._execute("train", epoch_batches, callback_list):
                pass
            epoch_logs = self.get_metrics_result()
            if validation is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._test_pass(val_batches, val_total, callback_list)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end(epoch_logs)
        history.model, history.params = self, callback_list.callbacks[-1].params
        return history

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: str | int = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | Logs:
        """The loss (and metrics) on ``x, y``: a float, ``[loss, *metrics]`` or a dict."""
        self._check_compiled("evaluate")
        batch_size = check_batch_size("evaluate", batch_size)
        steps = check_steps("evaluate", "steps", steps)
        verbose = _check_verbose("evaluate", verbose)
        return_dict = check_bool("evaluate", "return_dict", return_dict)
        if y is None:
            raise ValueError("evaluate() needs targets: pass `y`.")
        arrays = prepare(
            {**self._input_arrays(x), **self._target_arrays(y), "sample_weight": sample_weight}, "evaluate"
        )
        self._prepare("evaluate", arrays)
        batches = Batches(arrays, batch_size, names=tuple(arrays))
        total = min(steps or len(batches), len(batches))
        callbacks = [ProgbarLogger(verbose)] * (verbose > 0) + _check_callbacks("evaluate", callbacks)
        params = {"steps": total, "verbose": verbose, "mode": "evaluate"}
        callback_list = CallbackList(callbacks, self, params, owner="evaluate")
        logs = self._test_pass(batches, total, callback_list)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def _test_pass(self, batches: Batches, total: int, callback_list: CallbackList) -> Logs:
        """One pass of the test step over ``total`` batches, with the test hooks; the resulting logs."""
        self.reset_metrics()
        callback_list.on_test_begin({})
        for _ in self._execute("test", itertools.islice(batches, total), callback_list):
            pass
        logs = self.get_metrics_result()
        callback_list.on_test_end(logs)
        return logs

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: str | int = "auto",
        steps: int | None = None,
        callbacks: list[Callback] | None = None,
    ) -> np.ndarray:
        """The model's outputs for ``x``, batch by batch, as one NumPy array."""
        batch_size = check_batch_size("predict", batch_size)
        steps = check_steps("predict", "steps", steps)
        verbose = _check_verbose("predict", verbose)
        arrays = prepare(self._input_arrays(x), "predict")
        self._prepare("predict", arrays)  # checks the input shape before anything runs
        batches = Batches(arrays, batch_size, names=tuple(arrays))
        total = min(steps or len(batches), len(batches))
        callbacks = [ProgbarLogger(verbose)] * (verbose > 0) + _check_callbacks("predict", callbacks)
        params = {"steps": total, "verbose": verbose, "mode": "predict"}
        callback_list = CallbackList(callbacks, self, params, owner="predict")
        callback_list.on_predict_begin({})
        outputs = [
            to_host(y)
            for group in self._execute("predict", itertools.islice(batches, total), callback_list)
            for y in group
        ]
        callback_list.on_predict_end({})
        return self._join_predictions(outputs)

    def compute_gradients(self, x: Any, y: Any, sample_weight: Any = None, training: bool = True) -> list[np.ndarray]:
        """d(loss)/d(weight) on one batch, as NumPy arrays aligned with ``model.trainable_weights``."""
        self._check_compiled("compute_gradients")
        arrays = prepare(
            {**self._input_arrays(x), **self._target_arrays(y), "sample_weight": sample_weight}, "compute_gradients"
        )
        self._prepare("compute_gradients", arrays)
        x_t, y_t, *weights = self._group_batch(next(iter(Batches(arrays, len(arrays["x"]), names=tuple(arrays)))))
        y_pred = self(x_t, training=training)
        loss = self.compute_loss(_tensors(x_t), _tensors(y_t), y_pred, Tensor(weights[0]) if weights else None)
        return [g.numpy() for g in grad(loss, self.trainable_weights)]

    def train_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | Logs:
        """One gradient step on one batch; returns that batch's loss (and metrics)."""
        self._check_compiled("train_on_batch")
        return_dict = check_bool("train_on_batch", "return_dict", return_dict)
        arrays = prepare(
            {**self._input_arrays(x), **self._target_arrays(y), "sample_weight": sample_weight}, "train_on_batch"
        )
        self._prepare("train_on_batch", arrays)
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_weights)
        self.reset_metrics()
        batch = next(iter(Batches(arrays, len(arrays["x"]), names=tuple(arrays))))
        self._function("train", len(batch))(*batch)
        logs = self.get_metrics_result()
        values = [logs[name] for name in self.metrics_names]
        return logs if return_dict else (values[0] if len(values) == 1 else values)


def _tensors(arrays: Any) -> Any:
    """A backend array as a Tensor; a list of them (several inputs or targets) as a list of Tensors."""
    return [Tensor(a) for a in arrays] if isinstance(arrays, list) else Tensor(arrays)


def input_shape(arrays: dict[str, np.ndarray]) -> Any:
    """The shape of ``x``, or the list of shapes of ``x``, ``x_1``, ... for several inputs."""
    shapes = [array.shape for name, array in arrays.items() if name == "x" or name.startswith("x_")]
    return shapes[0] if len(shapes) == 1 else shapes


def _class_weights(y: np.ndarray, class_weight: Any) -> np.ndarray:
    """Per-example weights from a ``{class: weight}`` map (labels sparse or one-hot)."""
    if not isinstance(class_weight, dict):
        fail("fit", "class_weight", "a dict {class index: weight}", class_weight, TypeError)
    for label, weight in class_weight.items():
        if not is_integer(label):
            fail("fit", "class_weight", "a dict with integer class indices as keys", label, TypeError)
        check_number("fit", f"class_weight[{label}]", weight, 0.0)
    labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].round().astype(int)
    missing = sorted(set(np.unique(labels).tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"`class_weight` must give a weight for every class in `y`; missing classes: {missing}.")
    return np.array([class_weight[int(label)] for label in labels], dtype=settings.floatx)


#: what a loss or metric asks of the labels, by its class or by the function it wraps
_LABEL_KINDS: dict[Any, str] = {
    losses.SparseCategoricalCrossentropy: "sparse",
    losses.sparse_categorical_crossentropy: "sparse",
    metrics_module.sparse_categorical_accuracy: "sparse",
    metrics_module.sparse_top_k_categorical_accuracy: "sparse",
    losses.BinaryCrossentropy: "binary",
    losses.binary_crossentropy: "binary",
    losses.CategoricalCrossentropy: "one-hot",
    losses.categorical_crossentropy: "one-hot",
    metrics_module.categorical_accuracy: "one-hot",
    metrics_module.top_k_categorical_accuracy: "one-hot",
}


def _check_labels(owner: str, argument: str, y: np.ndarray, output_shape: tuple[int | None, ...], user: Any) -> None:
    """Check ``y`` against what ``user`` (the loss or a metric, in any form) needs: sparse, binary or one-hot labels."""
    kind = _LABEL_KINDS.get(getattr(user, "fn", type(user)))
    name = getattr(user, "name", type(user).__name__)
    if kind == "sparse":
        classes = output_shape[-1]
        assert classes is not None, "the output shape of a concrete input is concrete"
        ignored = getattr(user, "fn_kwargs", {}).get("ignore_class")  # Keras lets that label lie outside the classes
        losses.check_sparse_labels(y if ignored is None else y[y != ignored], classes, argument)
    elif kind == "binary" and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{owner}: `{argument}` must hold labels in [0, 1] for {name}, "
                         f"received values from {y.min()} to {y.max()}.")  # fmt: skip
    elif kind == "one-hot" and y.shape != output_shape:
        raise ValueError(f"{owner}: `{argument}` must hold one-hot labels of the output's shape {output_shape} "
                         f"for {name}, received labels of shape {y.shape}.")  # fmt: skip


def _check_verbose(owner: str, verbose: Any) -> int:
    """``verbose`` as 0, 1 or 2 (``"auto"`` is 1)."""
    return 1 if verbose == "auto" and isinstance(verbose, str) else check_choice(owner, "verbose", verbose, (0, 1, 2))


def _check_callbacks(owner: str, callbacks: Any) -> list[Callback]:
    """``callbacks`` as a list (None is no callbacks); :class:`CallbackList` checks the items."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        fail(owner, "callbacks", "a list of Callback instances", callbacks, TypeError)
    return list(callbacks)


def _unpack_validation(validation_data: Any) -> dict[str, Any]:
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight), "
            f"received {type(validation_data).__name__}."
        )
    return dict(zip(("x", "y", "sample_weight"), validation_data))


def _log_value(value: np.ndarray) -> float | np.ndarray:
    """A metric result for the logs: a float, or an array for per-class results (as Keras logs them)."""
    return float(value) if value.size == 1 else value


def _groups(batches: Iterator[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    """Consecutive groups of ``size`` batches (the last one may be shorter)."""
    batches = iter(batches)
    while group := list(itertools.islice(batches, size)):
        yield group


def _endless(batches: Batches) -> Iterator[list[Any]]:
    """Batches from pass after pass (for ``steps_per_epoch``)."""
    while True:
        yield from batches
