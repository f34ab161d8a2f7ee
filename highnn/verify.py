"""Cross-backend gradient verification for your own models.

``hn.verify(model, x, y)`` computes the gradients of the model's loss on every
installed backend (in float64 by default) and by central finite differences,
and reports, per weight and per pair, the largest absolute and relative
difference against stated tolerances::

    report = hn.verify(model, x[:16], y[:16])
    print(report)          # the table
    assert report.passed
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from highnn import config, losses, optimizers
from highnn.backends import REGISTRY, available_backends
from highnn.checks import check_choice
from highnn.models import Model
from highnn.ops.primitives import to_tensor

#: relative tolerance between two backends' gradients (float64 / float32)
BACKEND_RTOL = {"float64": 1e-9, "float32": 2e-3}
#: finite differences: gradcheck's settings
FD_EPS, FD_ATOL, FD_RTOL = 1e-6, 1e-5, 1e-3


@dataclass
class Comparison:
    """One weight, two sources of its gradient, and how far apart they are."""

    weight: str
    reference: str
    other: str
    max_abs: float
    max_rel: float
    passed: bool


@dataclass
class VerifyReport:
    """Every comparison, and whether all of them passed."""

    comparisons: list[Comparison] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    floatx: str = "float64"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def __str__(self) -> str:
        header = ("weight", "compared", "max abs diff", "max rel diff", "result")
        rows = [
            (
                c.weight,
                f"{c.reference} vs {c.other}",
                f"{c.max_abs:.3e}",
                f"{c.max_rel:.3e}",
                "ok" if c.passed else "FAIL",
            )
            for c in self.comparisons
        ]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
        lines.append(f"backends: {', '.join(self.backends)} ({self.floatx})"
                     + "".join(f"; {name} skipped: {why}" for name, why in self.skipped.items()))  # fmt: skip
        lines.append(
            f"tolerances: backends rtol {BACKEND_RTOL[self.floatx]:g}; "
            f"finite differences atol {FD_ATOL:g}, rtol {FD_RTOL:g}"
        )
        lines.append("PASSED" if self.passed else "FAILED")
        return "\n".join(lines)


def _rebuild(model: Model | Callable[[], Model]) -> Model:
    """A fresh, compiled copy of ``model`` on the active backend."""
    if callable(model) and not isinstance(model, Model):
        return model()
    if not hasattr(type(model), "from_config") or not model.compiled or model.loss is None:
        raise TypeError("verify: `model` must be a compiled model with a loss (or a function that builds one).")
    copy = type(model).from_config(model.get_config())
    if not isinstance(copy, Model):
        raise TypeError(f"verify: {type(model).__name__}.from_config must return a Model, returned {copy!r:.200}.")
    copy.compile(
        optimizer=optimizers.deserialize(optimizers.serialize(model.optimizer)),
        loss=losses.deserialize(losses.serialize(model.loss)),
    )
    return copy


def _compare(
    weight: str, reference: str, other: str, a: np.ndarray, b: np.ndarray, atol: float, rtol: float
) -> Comparison:
    diff = np.abs(a - b)
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), 1e-300)
    max_abs = float(diff.max(initial=0.0))
    return Comparison(weight, reference, other, max_abs, max_abs / scale, bool(np.all(diff <= atol + rtol * np.abs(a))))


def finite_difference_gradients(
    model: Model, x: np.ndarray, y: np.ndarray, entries_per_weight: int | None, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Central differences of the loss, for every entry or a random sample of each weight: ``(indices, values)``."""
    weights = model.get_weights()
    rng = np.random.default_rng(seed)
    results = []

    def loss_at(values: list[np.ndarray]) -> float:
        model.set_weights(values)
        return float(model.compute_loss(y=to_tensor(y), y_pred=model(x, training=False)).item())

    for i, weight in enumerate(weights):
        flat = np.arange(weight.size)
        if entries_per_weight is not None and weight.size > entries_per_weight:
            flat = np.sort(rng.choice(weight.size, entries_per_weight, replace=False))
        values = np.empty(len(flat))
        for k, index in enumerate(flat):
            perturbed = [w.copy() for w in weights]
            perturbed[i].flat[index] += FD_EPS
            up = loss_at(perturbed)
            perturbed[i].flat[index] -= 2 * FD_EPS
            values[k] = (up - loss_at(perturbed)) / (2 * FD_EPS)
        results.append((flat, values))
    model.set_weights(weights)
    return results


def verify(
    model: Model | Callable[[], Model],
    x: Any,
    y: Any,
    backends: Sequence[str] | None = None,
    floatx: str = "float64",
    finite_differences: bool = True,
    entries_per_weight: int | None = 32,
) -> VerifyReport:
    """Compare the gradients of ``model``'s loss on ``(x, y)`` across backends and against finite differences.

    ``model`` is a compiled model (rebuilt from its config on each backend, with
    its current weights) or a function that builds and compiles one. Every
    backend starts from the same weights. Finite differences run on NumPy in
    float64 over ``entries_per_weight`` random entries of each weight (all when
    None). Layers run in inference mode (no dropout), so all sources see the
    same function.
    """
    check_choice("verify", "floatx", floatx, tuple(BACKEND_RTOL))
    installed = available_backends()
    requested = list(backends) if backends is not None else installed
    unknown = [b for b in requested if b not in REGISTRY]
    if unknown:
        raise ValueError(f"verify: unknown backends {unknown}; choose from {', '.join(REGISTRY)}.")
    report = VerifyReport(floatx=floatx, skipped={b: "not installed" for b in requested if b not in installed})
    report.backends = [b for b in requested if b in installed]
    if not report.backends:
        raise ValueError(f"verify: none of the backends {requested} is installed.")
    x, y = np.asarray(x), np.asarray(y)

    reference_weights: list[np.ndarray] = []
    names: list[str] = []
    gradients: dict[str, list[np.ndarray]] = {}
    for backend in report.backends:
        with config.use_backend(backend, floatx=floatx):
            built = _rebuild(model)
            if not built.built:
                built.build((None,) + x.shape[1:])
            if not reference_weights:
                source = model if isinstance(model, Model) and model.built else built
                reference_weights = [w.astype(floatx) for w in source.get_weights()]
            built.set_weights(reference_weights)
            names = [w.path for w in built.trainable_weights]
            gradients[backend] = built.compute_gradients(x, y, training=False)

    first = report.backends[0]
    for other in report.backends[1:]:
        for name, a, b in zip(names, gradients[first], gradients[other]):
            report.comparisons.append(_compare(name, first, other, a, b, 0.0, BACKEND_RTOL[floatx]))
    if finite_differences:
        with config.use_backend("numpy", floatx="float64"):
            built = _rebuild(model)
            if not built.built:
                built.build((None,) + x.shape[1:])
            built.set_weights([w.astype("float64") for w in reference_weights])
            trainable_positions = [i for i, w in enumerate(built.weights) if w.trainable]
            numeric = finite_difference_gradients(built, x, y, entries_per_weight)
        for name, analytic, position in zip(names, gradients[first], trainable_positions):
            indices, values = numeric[position]
            atol = FD_ATOL if floatx == "float64" else max(FD_ATOL, 1e-2 * math.sqrt(FD_ATOL))
            report.comparisons.append(
                _compare(name, first, "finite differences", analytic.ravel()[indices], values, atol, FD_RTOL)
            )
    return report
