"""Training a model of several outputs: its loss (the weighted sum of one loss per output) and per-output metrics."""

from __future__ import annotations

from typing import Any

from highnn import losses
from highnn import metrics as metrics_module
from highnn.checks import fail
from highnn.graph import Tensor
from highnn.layers import symbolic


def per_output(value: Any, names: list[str], argument: str) -> list[Any]:
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
