"""compile / fit / evaluate / predict: the training loops that :class:`highnn.Model` inherits.

The train step reads like eager code (forward, loss, ``grad``, optimizer and
metric updates) and is traced once per input signature into a pure program
``(variables, batch) -> new variables`` that later steps replay (see
``highnn.tracing``); ``compile(run_eagerly=True)`` runs it op by op instead.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from highnn import losses, optimizers
from highnn import metrics as metrics_module
from highnn.backends import to_host
from highnn.batch_share import Share, sharing
from highnn.callbacks.base import Callback, CallbackList, History, Logs, ProgbarLogger
from highnn.checks import check_bool, check_choice, check_integer, check_number, fail, is_integer
from highnn.config import settings
from highnn.data import DEFAULT_BATCH_SIZE, Batches, check_batch_size, check_steps, prepare, split_validation
from highnn.data_adapters import (
    INPUT_TYPES,
    ArrayAdapter,
    DataAdapter,
    Feed,
    PyDataset,
    is_array_input,
    is_iterable_input,
    iterable_adapter,
)
from highnn.distribution import local_view
from highnn.distribution.api import distribution, place_variables
from highnn.graph import Tensor, grad, to_tensor
from highnn.layers import symbolic
from highnn.layers.layer import Layer
from highnn.ops.primitives import maximum
from highnn.prefetch import prefetched
from highnn.tracing import TracedFunction
from highnn.utils.packing import pack_x_y_sample_weight, unpack_x_y_sample_weight


class LossTracker(metrics_module.Mean):
    """The mean loss per example over the batches seen (Keras's loss tracker), its result in as few ops as a step
    can take: ``total`` divided by ``count`` kept off 0 by the dtype's smallest normal number, Keras's divide-no-nan
    bit for bit whenever ``count`` is positive or ``total`` is 0 (an empty tracker). ``fit`` passes the batch size
    as the weight, which :class:`~highnn.metrics.Mean` adds up without reducing or broadcasting.
    """

    def result(self) -> Tensor:
        return self.total / maximum(self.count, float(np.finfo(self.dtype).tiny))


class Trainer(Layer):
    """The Keras training API of :class:`highnn.Model`: a Layer that compiles, fits, evaluates and predicts."""

    compiled = False
    compiled_metrics: list[metrics_module.Metric] | None = None
    _log_names: dict[str, list[str]]  # the names of the logs each kind of step returns, set as it runs
    #: for each of ``compiled_metrics``, whether it weighs by ``sample_weight`` (``weighted_metrics``, losses)
    _metric_weighted: list[bool]
    _initial_epoch_override: int | None = None  # set by BackupAndRestore when it resumes a run
    optimizer: optimizers.Optimizer
    loss: losses.Loss | None

    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "rmsprop",
        loss: str | losses.Loss | Callable[..., Tensor] | None = None,
        metrics: list[Any] | None = None,
        weighted_metrics: list[Any] | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: bool | str = "auto",
    ) -> None:
        """Choose the optimizer, loss and metrics (strings as in Keras: ``"adam"``, ``"mse"``, ``"accuracy"``).

        As in Keras, ``metrics`` ignore ``sample_weight`` and ``class_weight``;
        ``weighted_metrics`` weigh by them (logged as ``weighted_<name>`` when
        a metric of that name is also among ``metrics``). The loss is always weighted.

        ``jit_compile``: ``"auto"`` uses each backend's default (``jax.jit`` on
        JAX; the plan captured as a CUDA graph on PyTorch with CUDA; the plain
        plan on a PyTorch CPU and NumPy); ``True`` also asks PyTorch for
        ``torch.compile``; ``False`` turns ``jax.jit`` and CUDA graphs off.
        """
        self.optimizer = optimizers.get(optimizer)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(self.optimizer, optimizers.LossScaleOptimizer):
            self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)  # as Keras: float16 gradients need scaling
        self.loss = losses.get(loss) if loss is not None else None
        self._metric_entries = _metric_entries("metrics", metrics)
        self._weighted_metric_entries = _metric_entries("weighted_metrics", weighted_metrics)
        self.compiled_metrics: list[metrics_module.Metric] | None = None
        self._metric_weighted = []
        self._loss_tracker = LossTracker("loss")
        check_choice("compile", "jit_compile", jit_compile, (True, False, "auto"))
        self.run_eagerly = run_eagerly
        self.jit_compile = jit_compile
        self.steps_per_execution = check_integer("compile", "steps_per_execution", steps_per_execution, 1)
        self._functions: dict[tuple[Any, ...], Callable[..., list[Any]]] = {}
        self.compiled = True
        self.stop_training = False

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the compiled steps, which a copy traces again."""
        state = dict(self.__dict__)
        state.pop("_functions", None)
        return state

    # ------------------------------------------------------------- the steps
    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Tensor | None = None,
        training: bool = True,
    ) -> Tensor:
        """The compiled loss plus every added loss of the model (:attr:`losses`: weight penalties, ``add_loss``).

        Keras's keywords; ``x`` and ``training`` are there for overrides (the default uses neither).
        """
        total = self._losses_sum()
        if self.loss is not None:
            if y is None or y_pred is None:
                fail("compute_loss", "y" if y is None else "y_pred", "a tensor for the compiled loss", None)
            compiled = self.loss(y, y_pred, sample_weight)
            total = compiled if total is None else compiled + total
        if total is None:
            raise ValueError("compute_loss: no loss to compute; pass `loss=` to compile() or add losses in call().")
        return total

    def _losses_sum(self) -> Tensor | None:
        """The sum of :attr:`losses` (each summed to a scalar), or None when there are none."""
        total = None
        for penalty in self.losses:
            penalty = penalty.sum() if penalty.ndim else penalty
            total = penalty if total is None else total + penalty
        return total

    def train_step(self, data: Any) -> dict[str, Any]:
        """One step of minibatch gradient descent (Algorithm 2.2) on ``data`` (``x``, ``(x, y)`` or
        ``(x, y, sample_weight)``); returns the logs, ``{metric name: result}``.

        Override it in a subclass (Keras's contract); it is traced like the default one.
        """
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        weights = self.trainable_weights
        # metrics first: a metric that fails while the step is traced leaves the weights as they were
        self._update_metrics(loss, x, y, y_pred, sample_weight)
        self.optimizer.apply(grad(self.optimizer.scale_loss(loss), weights), weights)
        return self._metrics_results()

    def test_step(self, data: Any) -> dict[str, Any]:
        """The loss and metrics on one batch, without training; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        self._update_metrics(loss, x, y, y_pred, sample_weight)
        return self._metrics_results()

    def predict_step(self, data: Any) -> Any:
        """The model's outputs on one batch."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _metrics_results(self) -> dict[str, Tensor]:
        """``{m.name: m.result() for m in self.metrics}``: what a step returns as its logs (tensors, so traced)."""
        return {metric.name: metric.result() for metric in self.metrics}

    def _update_metrics(self, loss: Tensor, x: Any, y: Any, y_pred: Any, sample_weight: Tensor | None) -> None:
        """The loss tracker (weighted by the batch size, as Keras) and the compiled metrics (``weighted_metrics``
        by ``sample_weight``)."""
        self._loss_tracker.update_state(loss, sample_weight=float(symbolic.flatten(x)[0].shape[0]))
        for metric, weighted in zip(self.compiled_metrics or [], self._metric_weighted):
            metric.update_state(y, y_pred, sample_weight if weighted else None)

    def _function(
        self, kind: str, arity: int, shares: tuple[Share, ...] = (), logs: bool = True, defer_counters: bool = False
    ) -> Callable[..., list[Any]]:
        """The train, test or predict step over any number of batches of ``arity`` arrays each.

        ``steps_per_execution`` batches go into one call, so one traced program
        (one ``jax.jit`` on JAX) runs several steps. Traced unless run_eagerly.
        A train or test call returns the last step's logs, in the order of
        ``self._log_names[kind]``; a predict call, every step's outputs.
        Under torch DataParallel each batch is this process's share of a global
        batch, one of ``shares``; Trainer's own train and test steps then weight
        the loss and sum the gradients over the processes (``local_view``).
        Without ``logs`` a train or test call returns nothing, and its program
        computes no logs (the metrics' variables still update). With
        ``defer_counters`` (traced only) the caller calls ``count()`` after the
        calls (see :class:`~highnn.tracing.TracedFunction`).
        """
        functions = self.__dict__.setdefault("_functions", {})
        key = (kind, arity, logs, defer_counters, *shares)
        function = functions.get(key)
        if function is None:
            step_of_kind: dict[str, Callable[[Any], Any]] = {
                "train": self.train_step,
                "test": self.test_step,
                "predict": self.predict_step,
            }
            step = step_of_kind[kind]
            if shares and kind in local_view.STEPS and self._own_step(kind):
                step = functools.partial(local_view.STEPS[kind], self)

            def steps(*tensors: Tensor) -> list[Tensor]:
                outputs: list[Tensor] = []
                for i, start in enumerate(range(0, len(tensors), arity)):
                    with sharing(shares[i] if shares else None):
                        result = step(pack_x_y_sample_weight(*self._group_batch(list(tensors[start : start + arity]))))
                    if kind == "predict":
                        outputs += symbolic.flatten(result)
                    elif logs:
                        outputs = self._logs_tensors(kind, result)
                return outputs

            if getattr(self, "run_eagerly", False):
                function = lambda *arrays: [t.value for t in steps(*(Tensor(a) for a in arrays))]  # noqa: E731
            else:
                jit_compile = getattr(self, "jit_compile", "auto")
                jit = None if jit_compile == "auto" else bool(jit_compile)
                function = TracedFunction(steps, jit=jit, defer_counters=defer_counters)
            function = functions.setdefault(key, function)  # racing threads share the first
        return function

    def _own_step(self, kind: str) -> bool:
        """Whether the ``kind`` step (train, test, predict) is Trainer's own, not a subclass's override."""
        return getattr(type(self), f"{kind}_step") is getattr(Trainer, f"{kind}_step")

    def _logs_tensors(self, kind: str, logs: Any) -> list[Tensor]:
        """The values of the logs a step returned, as tensors; their names go to ``self._log_names[kind]``."""
        if not isinstance(logs, dict) or not all(isinstance(name, str) for name in logs):
            fail(f"{type(self).__name__}.{kind}_step", "the returned logs", "a dict {name: value}", logs, TypeError)
        self.__dict__.setdefault("_log_names", {})[kind] = list(logs)
        return [value if isinstance(value, Tensor) else to_tensor(value) for value in logs.values()]

    def _logs(self, kind: str, outputs: list[Any] | None) -> Logs:
        """A train or test call's outputs as logs of floats (the metrics' results when no step ran, or summed over
        the processes under torch DataParallel)."""
        if outputs is None or local_view.active() is not None:
            return self.get_metrics_result()
        return {name: _log_value(to_host(value)) for name, value in zip(self._log_names[kind], outputs)}

    def _execute(
        self, kind: str, batches: Iterator[list[Any]], callback_list: CallbackList
    ) -> Iterator[list[Any] | None]:
        """Run the step on ``batches``, ``steps_per_execution`` at a time, calling the batch hooks; yields outputs
        (None for a call that returns no logs)."""
        begin_hook, end_hook = f"on_{kind}_batch_begin", f"on_{kind}_batch_end"
        wants_begin, wants_end = callback_list.wants(begin_hook), callback_list.wants(end_hook)
        view = local_view.active()
        if view is not None:  # the logs of a batch are summed over the processes: all read them or none
            wants_end = view.any(wants_end)
        per_call = getattr(self, "steps_per_execution", 1)
        step = 0
        distributed = view is None and distribution() is not None  # the global view (JAX): lay out, feed, pace
        # Trainer's own steps' logs are the metrics' results, which the epoch's end reads from the metrics: without
        # a batch hook to pass them to, the step computes and returns none (a custom step's logs are its own)
        logs = wants_end or kind == "predict" or not self._own_step(kind)
        # and with no batch hook at all, nothing reads the step counts before the pass ends: the traced steps leave
        # them out (two arguments and results fewer) and the pass adds them up at its end
        defer_counters = not (logs or wants_begin or distributed or view is not None)
        if distributed:
            _place_state(self)
        functions: dict[tuple[int, tuple[Share, ...]], Callable[..., list[Any]]] = {}  # this call's, at hand
        try:
            for call, group in enumerate(_groups(prefetched(batches), per_call)):
                if wants_begin:
                    getattr(callback_list, begin_hook)(step, {})
                shares = () if view is None else tuple(b.share for b in group if isinstance(b, local_view.LocalBatch))
                arrays = group[0] if len(group) == 1 else [a for batch in group for a in batch]
                signature = (len(group[0]), shares)
                function = functions.get(signature) or functions.setdefault(
                    signature, self._function(kind, *signature, logs, defer_counters)
                )
                outputs = function(*(_global_batches(arrays) if distributed else arrays))
                if distributed:
                    _pace(self, call, outputs)
                if kind == "predict" and view is not None and shares:
                    outputs = view.gather(outputs, shares)
                step += len(group)
                if wants_end:
                    getattr(callback_list, end_hook)(step - 1, self._logs(kind, outputs) if kind != "predict" else {})
                yield outputs if logs else None
                if kind == "train" and self.stop_training:
                    return
        finally:
            for function in functions.values():
                if isinstance(function, TracedFunction):
                    function.count()

    # -------------------------------------------------------------- metrics
    @property
    def metrics(self) -> list[metrics_module.Metric]:
        """The loss tracker, the compiled metrics, then metrics held as attributes (``self.mae = Mean()``).

        ``fit`` resets them at each epoch; a subclass may override the property to list its own.
        """
        compiled = [self._loss_tracker] + list(self.compiled_metrics or []) if self.compiled else []
        seen = {id(metric) for metric in compiled}
        return compiled + [
            value for value in vars(self).values() if isinstance(value, metrics_module.Metric) and id(value) not in seen
        ]

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> Logs:
        """Every metric's current result as a float: ``{"loss": ..., "accuracy": ...}``.

        The results come from one traced call (one ``jax.jit`` on JAX) unless
        ``run_eagerly``: a handful of eager scalar ops would cost more than a
        small model's training step.
        """
        metrics = self.metrics
        view = local_view.active()
        with view.summed(metrics) if view is not None else contextlib.nullcontext():
            values = self._results_function(metrics)()
        return {metric.name: _log_value(to_host(value)) for metric, value in zip(metrics, values)}

    def _results_function(self, metrics: list[metrics_module.Metric]) -> Callable[[], list[Any]]:
        """``metrics``' results as one function, traced per set of state variables (a metric that builds its
        state on its first batch gets a new program then)."""
        if getattr(self, "run_eagerly", False):
            return lambda: [metric.result().value for metric in metrics]
        functions = self.__dict__.setdefault("_functions", {})
        key = ("results", *[id(variable) for metric in metrics for variable in metric.variables])
        function = functions.get(key)
        if function is None:  # the function holds the metrics, so no id in its key is reused while it lives
            function = functions[key] = TracedFunction(lambda: [metric.result() for metric in metrics])
        return cast(Callable[[], list[Any]], function)

    def _prepare(self, owner: str, arrays: dict[str, np.ndarray], argument: str = "y") -> None:
        """Build the model, check ``x``'s shape and the labels against the loss and every metric.

        ``"accuracy"`` is resolved to Keras's choice on the first labels seen.
        Nothing changes when a check fails (besides building an unbuilt model).
        """
        if type(self).call is Layer.call:  # a model without call (a GAN) only runs its own steps on its sub-models
            return
        if not self.built:
            self.build((None,) + arrays["x"].shape[1:])
        output_shape = self.compute_output_shape(input_shape(arrays))
        if "y" not in arrays:
            return
        y = arrays["y"]
        metrics, weighted = self.compiled_metrics, self._metric_weighted
        if metrics is None:
            metrics, weighted = compiled_metrics(
                self._metric_entries, self._weighted_metric_entries, y.shape, output_shape, self.loss
            )
        for user in [self.loss, *metrics]:
            _check_labels(owner, argument, y, output_shape, user)
        self.compiled_metrics, self._metric_weighted = metrics, weighted

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

    def _overrides(self, step: str) -> bool:
        """Whether the model's class defines its own ``step`` (a custom step may train without targets)."""
        return getattr(type(self), step) is not getattr(Trainer, step)

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

        ``x`` is arrays (with ``y``), or a generator, :class:`PyDataset` or torch
        ``DataLoader`` that yields whole batches (see :mod:`highnn.data_adapters`).

        Every argument and the data are checked before anything changes: a
        failed call leaves the weights and the optimizer as they were.
        """
        self._check_compiled("fit")
        batch_size = _check_optional_batch_size("fit", batch_size)
        epochs = check_integer("fit", "epochs", epochs, 0)
        initial_epoch = check_integer("fit", "initial_epoch", initial_epoch, 0)
        steps_per_epoch = check_steps("fit", "steps_per_epoch", steps_per_epoch)
        validation_steps = check_steps("fit", "validation_steps", validation_steps)
        validation_freq = check_integer("fit", "validation_freq", validation_freq, 1)
        validation_batch_size = _check_optional_batch_size("fit", validation_batch_size, "validation_batch_size")
        verbose = _check_verbose("fit", verbose)
        shuffle = check_bool("fit", "shuffle", shuffle)
        train = self._adapter("fit", x, y, sample_weight, batch_size, shuffle=shuffle, class_weight=class_weight)
        validation: DataAdapter | None = None
        if validation_data is not None:
            if is_iterable_input(validation_data):
                validation = self._adapter("fit", validation_data, None, None, validation_batch_size)
            else:
                unpacked = _unpack_validation(validation_data)
                validation = self._adapter(
                    "fit",
                    unpacked["x"],
                    unpacked["y"],
                    unpacked.get("sample_weight"),
                    validation_batch_size or batch_size,
                )
        elif validation_split:
            if not isinstance(train, ArrayAdapter):
                fail("fit", "validation_split", f"0 when `x` is a {train.kind}: pass `validation_data`",
                     validation_split)  # fmt: skip
            arrays, held_out = split_validation(train.first, validation_split)
            train = self._array_adapter(arrays, batch_size, shuffle)
            validation = self._array_adapter(held_out, validation_batch_size or batch_size)
        self._prepare("fit", train.first)
        view = local_view.active()
        feed = Feed(train, steps_per_epoch, cycle=True)
        logged = list(self.metrics_names)
        if validation is not None:
            self._prepare("fit", validation.first, "validation_data")
            val_feed = Feed(validation, validation_steps)
            logged += [f"val_{name}" for name in logged]
        history = History()
        params = {"epochs": epochs, "steps": feed.num_batches, "verbose": verbose,
                  "batch_size": batch_size or DEFAULT_BATCH_SIZE, "metrics": logged}  # fmt: skip
        callback_list = CallbackList(
            [ProgbarLogger(verbose)] * _prints(view, verbose) + _own_callbacks(view, "fit", callbacks) + [history],
            self,
            params,
        )
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_weights)
        if view is not None:
            view.start(self, train.first, "fit")
        self.stop_training = False
        epoch_logs: Logs = {}
        callback_list.on_train_begin({})
        if self._initial_epoch_override is not None:
            initial_epoch, self._initial_epoch_override = self._initial_epoch_override, None
        for epoch in range(initial_epoch, epochs):
            if feed.ran_out():
                break
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch, {})
            with feed.epoch() as batches:
                epoch_logs = self._logs("train", _last(self._execute("train", batches, callback_list)))
            _learn_steps(params, feed)
            if view is not None:  # under torch DataParallel the batches are arrays' (see _adapter)
                view.average_moving_statistics(self, cast(ArrayAdapter, train).batches)
            if validation is not None and (epoch + 1) % validation_freq == 0 and not val_feed.ran_out():
                val_logs = self._test_pass(val_feed, callback_list)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if view is not None:  # a callback that stopped one process stops them all
                self.stop_training = view.any(self.stop_training)
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
        batch_size = _check_optional_batch_size("evaluate", batch_size)
        steps = check_steps("evaluate", "steps", steps)
        verbose = _check_verbose("evaluate", verbose)
        return_dict = check_bool("evaluate", "return_dict", return_dict)
        adapter = self._adapter("evaluate", x, y, sample_weight, batch_size)
        self._prepare("evaluate", adapter.first)
        view = local_view.active()
        if view is not None:
            view.start(self, adapter.first, "evaluate")
        feed = Feed(adapter, steps)
        callbacks = [ProgbarLogger(verbose)] * _prints(view, verbose) + _own_callbacks(view, "evaluate", callbacks)
        params = {"steps": feed.num_batches, "verbose": verbose, "mode": "evaluate"}
        callback_list = CallbackList(callbacks, self, params, owner="evaluate")
        logs = self._test_pass(feed, callback_list, params)
        return logs if return_dict else self._flatten_logs(logs)

    def _test_pass(self, feed: Feed, callback_list: CallbackList, params: dict[str, Any] | None = None) -> Logs:
        """One epoch of the test step over ``feed``, with the test hooks; the resulting logs.

        ``params`` (evaluate's callback params) learn the number of steps once a generator has run out.
        """
        self.reset_metrics()
        callback_list.on_test_begin({})
        with feed.epoch() as batches:
            logs = self._logs("test", _last(self._execute("test", batches, callback_list)))
        _learn_steps(params, feed)
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
        batch_size = _check_optional_batch_size("predict", batch_size)
        steps = check_steps("predict", "steps", steps)
        verbose = _check_verbose("predict", verbose)
        adapter = self._adapter("predict", x, None, None, batch_size, targets=False)
        self._prepare("predict", adapter.first)  # checks the input shape before anything runs
        view = local_view.active()
        if view is not None:
            view.start(self, adapter.first, "predict")
        feed = Feed(adapter, steps)
        callbacks = [ProgbarLogger(verbose)] * _prints(view, verbose) + _own_callbacks(view, "predict", callbacks)
        params = {"steps": feed.num_batches, "verbose": verbose, "mode": "predict"}
        callback_list = CallbackList(callbacks, self, params, owner="predict")
        callback_list.on_predict_begin({})
        with feed.epoch() as batches:
            outputs = [to_host(y) for group in self._execute("predict", batches, callback_list) for y in group or ()]
        _learn_steps(params, feed)
        callback_list.on_predict_end({})
        return self._join_predictions(outputs)

    def _adapter(
        self,
        owner: str,
        x: Any,
        y: Any,
        sample_weight: Any,
        batch_size: int | None,
        *,
        shuffle: bool = False,
        class_weight: Any = None,
        targets: bool = True,
    ) -> DataAdapter:
        """The batches of ``x`` (arrays, or anything that brings its own batches), checked before anything runs."""

        own_step = {"fit": "train_step", "evaluate": "test_step"}.get(owner)
        custom = own_step is not None and self._overrides(own_step)  # a custom step may run without targets

        def convert(x: Any, y: Any, sample_weight: Any) -> dict[str, np.ndarray]:
            if not targets:
                return prepare(self._input_arrays(x), owner)
            if y is None and custom:
                return prepare({**self._input_arrays(x), "sample_weight": sample_weight}, owner)
            if y is None:
                raise ValueError(f"{owner}() needs targets: pass `y`" + ("." if is_arrays else " in each batch."))
            arrays = prepare({**self._input_arrays(x), **self._target_arrays(y), "sample_weight": sample_weight}, owner)
            if class_weight is not None:
                arrays["sample_weight"] = _class_weights(arrays["y"], class_weight) * arrays.get("sample_weight", 1.0)
            return arrays

        is_arrays = not is_iterable_input(x)
        if is_arrays:
            if not is_array_input(x):
                fail(owner, "x", INPUT_TYPES, x, TypeError)
            return self._array_adapter(convert(x, y, sample_weight), batch_size, shuffle)
        if local_view.active() is not None:
            fail(owner, "x", "arrays under torch DataParallel (each process takes its share of every batch)", x,
                 TypeError)  # fmt: skip
        refused = {"y": y, "sample_weight": sample_weight}
        if not isinstance(x, PyDataset):
            refused["class_weight"] = class_weight  # Keras weighs a PyDataset's batches only
        return iterable_adapter(owner, x, convert, batch_size=batch_size, shuffle=shuffle, refused=refused)

    @staticmethod
    def _array_adapter(arrays: dict[str, np.ndarray], batch_size: int | None, shuffle: bool = False) -> ArrayAdapter:
        """The minibatches of ``arrays``: whole, or this process's share of each under torch DataParallel."""
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        view = local_view.active()
        batches = None if view is None else view.batches(arrays, batch_size, shuffle)
        return ArrayAdapter(arrays, batch_size, shuffle, batches)

    def compute_gradients(self, x: Any, y: Any, sample_weight: Any = None, training: bool = True) -> list[np.ndarray]:
        """d(loss)/d(weight) on one batch, as NumPy arrays aligned with ``model.trainable_weights``."""
        self._check_compiled("compute_gradients")
        x_t, y_t, *weights = self._group_batch(self._one_batch("compute_gradients", x, y, sample_weight))
        y_pred = self(x_t, training=training)
        sample_weight = Tensor(weights[0]) if weights else None
        loss = self.compute_loss(
            x=_tensors(x_t), y=_tensors(y_t), y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        return [g.numpy() for g in grad(loss, self.trainable_weights)]

    def train_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | Logs:
        """One gradient step on one batch; returns that batch's loss (and metrics)."""
        return self._step_on_batch("train", x, y, sample_weight, return_dict)

    def test_on_batch(
        self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False
    ) -> float | list[float] | Logs:
        """The loss (and metrics) of one batch, without training."""
        return self._step_on_batch("test", x, y, sample_weight, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The model's outputs for one batch ``x``, as NumPy."""
        batch = self._one_batch("predict_on_batch", x)
        return self._join_predictions([to_host(y) for y in self._function("predict", len(batch))(*batch)])

    def _step_on_batch(
        self, kind: str, x: Any, y: Any, sample_weight: Any, return_dict: bool
    ) -> float | list[float] | Logs:
        """``train_on_batch`` or ``test_on_batch``: the train or test step on one batch, its logs from fresh metrics."""
        owner = f"{kind}_on_batch"
        self._check_compiled(owner)
        return_dict = check_bool(owner, "return_dict", return_dict)
        batch = self._one_batch(owner, x, y, sample_weight)
        if kind == "train" and not self.optimizer.built:
            self.optimizer.build(self.trainable_weights)
        self.reset_metrics()
        logs = self._logs(kind, self._function(kind, len(batch))(*batch))
        return logs if return_dict else self._flatten_logs(logs)

    def _one_batch(self, owner: str, x: Any, *targets: Any) -> list[Any]:
        """``x`` (and, given, ``y`` and ``sample_weight``) checked and made one batch of backend arrays."""
        named = dict(self._input_arrays(x))
        if targets:
            y, sample_weight = targets
            named |= {**self._target_arrays(y), "sample_weight": sample_weight}
        arrays = prepare(named, owner)
        self._prepare(owner, arrays)
        return next(iter(Batches(arrays, len(arrays["x"]), names=tuple(arrays))))

    def _flatten_logs(self, logs: Logs) -> float | list[float]:
        """The logs as Keras's evaluate returns them: by :attr:`metrics` order, then the other names sorted;
        one value alone as a float."""
        names = [name for name in self.metrics_names if name in logs]
        values = [logs[name] for name in names + sorted(set(logs) - set(names))]
        return values[0] if len(values) == 1 else values


def _metric_entries(argument: str, entries: Any) -> list[Any]:
    """``compile``'s ``metrics`` or ``weighted_metrics``: metrics, with ``"accuracy"`` kept as a name to resolve
    once the labels are known."""
    if entries is not None and not isinstance(entries, (list, tuple)):
        fail("compile", argument, "a list", entries, TypeError)
    return [
        m if isinstance(m, str) and m.lower() in metrics_module.ACCURACY_NAMES else metrics_module.get(m)
        for m in entries or []
    ]


def compiled_metrics(
    entries: list[Any],
    weighted_entries: list[Any],
    y_shape: tuple[int, ...],
    output_shape: tuple[int | None, ...],
    loss: Any,
) -> tuple[list[metrics_module.Metric], list[bool]]:
    """One output's metrics, then its weighted metrics, with whether each is weighted.

    ``"accuracy"`` becomes Keras's choice for these labels and this loss; a
    weighted metric whose name an unweighted one has is renamed ``weighted_<name>``, as Keras logs it.
    """

    def resolve(entry: Any) -> metrics_module.Metric:
        if isinstance(entry, str) and entry.lower() in metrics_module.ACCURACY_NAMES:
            return metrics_module.accuracy_for(y_shape, output_shape, loss)(name=entry)
        return metrics_module.get(entry)

    plain, weighted = [resolve(e) for e in entries], [resolve(e) for e in weighted_entries]
    taken = {m.name for m in plain}
    for metric in weighted:
        if metric.name in taken:
            metric.name = f"weighted_{metric.name}"
    return plain + weighted, [False] * len(plain) + [True] * len(weighted)


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
    if size == 1:
        return ([batch] for batch in batches)
    return iter(lambda: list(itertools.islice(batches, size)), [])


def _last(items: Iterator[Any]) -> Any:
    """The last item (None when there are none), once every item has been produced."""
    return next(iter(deque(items, maxlen=1)), None)


def _learn_steps(params: dict[str, Any] | None, feed: Feed) -> None:
    """Set the callbacks' ``steps`` once an epoch of unknown length (a generator's) has ended."""
    if params is not None and params["steps"] is None:
        params["steps"] = feed.drawn


def _check_optional_batch_size(owner: str, batch_size: Any, argument: str = "batch_size") -> int | None:
    """``batch_size`` as an integer >= 1, or None when not passed (data that brings its own batches needs None)."""
    return None if batch_size is None else check_batch_size(owner, batch_size, argument)


# ------------------------------------------------------------------ under a distribution (see hn.distribution)
#: calls the host may run ahead of the devices under a distribution: unbounded queues of small sharded steps can
#: abort XLA's CPU collectives, and every queued step holds device memory
MAX_STEPS_IN_FLIGHT = 8


def _place_state(model: Trainer) -> None:
    """Lay out the model's, the optimizer's and the metrics' variables as the distribution says (a model built
    before ``set_distribution`` moves; variables already in place stay)."""
    optimizer = getattr(model, "optimizer", None)
    metrics = model.metrics if model.compiled else []
    place_variables([
        *model.variables,
        *(optimizer.variables if optimizer is not None else []),
        *(v for metric in metrics for v in metric.variables),
    ])  # fmt: skip


def _global_batches(arrays: list[Any]) -> list[Any]:
    """The host batches as the distributed step takes them (global arrays when several processes feed it)."""
    active, backend = distribution(), settings.backend
    assert active is not None
    return [backend.global_batch(a, active.get_data_layout(a.shape)) for a in arrays]


def _pace(model: Trainer, call: int, outputs: list[Any]) -> None:
    """After the first call (which traced the step eagerly), lay the state out again; then every
    :data:`MAX_STEPS_IN_FLIGHT` calls, wait for the newest one."""
    if call == 0:
        _place_state(model)
    elif call % MAX_STEPS_IN_FLIGHT == 0:
        settings.backend.wait(outputs[0] if outputs else model.metrics[0].variables[0].value)


# ------------------------------------------------------------------ torch DataParallel (see distribution.local_view)
def _prints(view: local_view.LocalView | None, verbose: int) -> bool:
    """Whether this process shows a progress bar (under DataParallel, process 0 alone)."""
    return verbose > 0 and (view is None or view.chief)


def _own_callbacks(view: local_view.LocalView | None, owner: str, callbacks: Any) -> list[Callback]:
    """The user's callbacks that this process runs (under DataParallel, only process 0 writes logs)."""
    checked = _check_callbacks(owner, callbacks)
    return checked if view is None else view.callbacks(checked)
