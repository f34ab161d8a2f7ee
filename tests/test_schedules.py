"""Learning-rate schedules against Keras 3's formulas written out in NumPy, eagerly and inside a traced step."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn.optimizers import schedules
from highnn.tracing import TracedFunction

STEPS = np.arange(0, 61)


# ------------------------------------------------------- NumPy references
def exponential(
    step: np.ndarray, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
) -> np.ndarray:
    p = step / decay_steps
    return initial_learning_rate * decay_rate ** (np.floor(p) if staircase else p)


def inverse_time(
    step: np.ndarray, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
) -> np.ndarray:
    p = step / decay_steps
    return initial_learning_rate / (1 + decay_rate * (np.floor(p) if staircase else p))


def piecewise(step: np.ndarray, boundaries: list[float], values: list[float]) -> np.ndarray:
    # values[i] where boundaries[i-1] < step <= boundaries[i]
    return np.asarray(values)[np.searchsorted(boundaries, step, side="left")]


def polynomial(
    step: np.ndarray,
    initial_learning_rate: float,
    decay_steps: float,
    end_learning_rate: float = 0.0001,
    power: float = 1.0,
    cycle: bool = False,
) -> np.ndarray:
    step = step.astype(np.float64)
    if cycle:
        decay_steps = decay_steps * np.where(step == 0, 1.0, np.ceil(step / decay_steps))
    else:
        step = np.minimum(step, decay_steps)
    return (initial_learning_rate - end_learning_rate) * (1 - step / decay_steps) ** power + end_learning_rate


def cosine(
    step: np.ndarray,
    initial_learning_rate: float,
    decay_steps: float,
    alpha: float = 0.0,
    warmup_target: float | None = None,
    warmup_steps: float = 0,
) -> np.ndarray:
    step = step.astype(np.float64)
    start = initial_learning_rate if warmup_target is None else warmup_target
    decay_step = np.minimum(np.maximum(step - (0 if warmup_target is None else warmup_steps), 0), decay_steps)
    decayed = start * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * decay_step / decay_steps)) + alpha)
    if warmup_target is None or warmup_steps == 0:
        return decayed
    warmup = initial_learning_rate + (warmup_target - initial_learning_rate) * step / warmup_steps
    return np.where(step < warmup_steps, warmup, decayed)


def cosine_restarts(
    step: np.ndarray,
    initial_learning_rate: float,
    first_decay_steps: float,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
) -> np.ndarray:
    """Keras's own test reference: walk through the periods one by one."""
    rates = []
    for s in step.astype(np.float64):
        period, factor = first_decay_steps, 1.0
        while s >= period:
            s, period, factor = s - period, period * t_mul, factor * m_mul
        rates.append(initial_learning_rate * ((1 - alpha) * factor * 0.5 * (1 + np.cos(np.pi * s / period)) + alpha))
    return np.array(rates)


CASES: list[tuple[type[schedules.LearningRateSchedule], Callable[..., np.ndarray], dict[str, Any]]] = [
    (schedules.ExponentialDecay, exponential, dict(initial_learning_rate=0.1, decay_steps=7, decay_rate=0.5)),
    (
        schedules.ExponentialDecay,
        exponential,
        dict(initial_learning_rate=0.3, decay_steps=4, decay_rate=0.9, staircase=True),
    ),
    (schedules.InverseTimeDecay, inverse_time, dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5)),
    (
        schedules.InverseTimeDecay,
        inverse_time,
        dict(initial_learning_rate=0.2, decay_steps=5, decay_rate=2.0, staircase=True),
    ),
    (schedules.PiecewiseConstantDecay, piecewise, dict(boundaries=[10, 25, 40], values=[1.0, 0.5, 0.1, 0.01])),
    (schedules.PiecewiseConstantDecay, piecewise, dict(boundaries=[7.5], values=[0.3, 0.2])),
    (schedules.PolynomialDecay, polynomial, dict(initial_learning_rate=0.1, decay_steps=20)),
    (
        schedules.PolynomialDecay,
        polynomial,
        dict(initial_learning_rate=0.1, decay_steps=20, end_learning_rate=0.01, power=0.5),
    ),
    (
        schedules.PolynomialDecay,
        polynomial,
        dict(initial_learning_rate=0.1, decay_steps=13, end_learning_rate=0.02, power=2.0, cycle=True),
    ),
    (schedules.CosineDecay, cosine, dict(initial_learning_rate=0.1, decay_steps=40)),
    (schedules.CosineDecay, cosine, dict(initial_learning_rate=0.1, decay_steps=25, alpha=0.2)),
    (
        schedules.CosineDecay,
        cosine,
        dict(initial_learning_rate=0.0, decay_steps=30, warmup_target=0.2, warmup_steps=10),
    ),
    (
        schedules.CosineDecay,
        cosine,
        dict(initial_learning_rate=0.05, decay_steps=30, alpha=0.1, warmup_target=0.2, warmup_steps=0),
    ),
    (
        schedules.CosineDecay,
        cosine,
        dict(initial_learning_rate=0.1, decay_steps=20, warmup_steps=15),
    ),  # no target: no warmup
    (schedules.CosineDecayRestarts, cosine_restarts, dict(initial_learning_rate=0.1, first_decay_steps=5)),
    (schedules.CosineDecayRestarts, cosine_restarts, dict(initial_learning_rate=0.2, first_decay_steps=4, t_mul=1.0)),
    (
        schedules.CosineDecayRestarts,
        cosine_restarts,
        dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=3.0, m_mul=0.5, alpha=0.1),
    ),
    (
        schedules.CosineDecayRestarts,
        cosine_restarts,
        dict(initial_learning_rate=0.3, first_decay_steps=6, t_mul=1.5, m_mul=0.9, alpha=0.05),
    ),
]
CASE_IDS = [f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)]


@pytest.mark.parametrize(("cls", "reference", "config"), CASES, ids=CASE_IDS)
def test_schedule_matches_formula_at_many_steps(
    backend64: str, cls: type, reference: Callable[..., np.ndarray], config: dict[str, Any]
) -> None:
    schedule = cls(**config)
    rates = schedule(hn.ops.to_tensor(STEPS.astype(np.int64)))  # elementwise over a vector of steps
    assert rates.dtype == "float64"
    np.testing.assert_allclose(rates.numpy(), reference(STEPS, **config), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("cls", "reference", "config"), CASES, ids=CASE_IDS)
def test_schedule_replays_inside_a_traced_step(
    float64: None, cls: type, reference: Callable[..., np.ndarray], config: dict[str, Any]
) -> None:
    """Traced once on step 0, the program must still follow the schedule: no Python branch on the step's value."""
    schedule = cls(**config)
    step = hn.Variable(np.array(0, dtype=np.int64), name="step", trainable=False)

    def rate_then_count() -> list[hn.Tensor]:
        rate = schedule(step)
        step.assign_add(1)
        return [rate]

    traced = TracedFunction(rate_then_count)
    rates = [float(np.asarray(traced()[0])) for _ in STEPS]
    assert len(traced.programs) == 1
    np.testing.assert_allclose(rates, reference(STEPS, **config), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("cls", "reference", "config"), CASES[::3], ids=CASE_IDS[::3])
def test_schedule_in_float32(cls: type, reference: Callable[..., np.ndarray], config: dict[str, Any]) -> None:
    with hn.config.use_backend("numpy", floatx="float32"):
        rates = cls(**config)(hn.ops.to_tensor(STEPS.astype(np.int64)))
    assert rates.dtype == "float32"
    np.testing.assert_allclose(rates.numpy(), reference(STEPS, **config), rtol=2e-6, atol=1e-7)


def test_piecewise_boundaries_are_inclusive_on_the_left_value(float64: None) -> None:
    schedule = schedules.PiecewiseConstantDecay([3, 5], [1.0, 0.5, 0.25])
    got = [schedule(hn.ops.to_tensor(np.int64(s))).item() for s in range(8)]
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    float_steps = schedule(hn.ops.to_tensor(np.array([2.5, 3.0, 3.5, 5.0, 5.5]))).numpy()
    np.testing.assert_array_equal(float_steps, [1.0, 1.0, 0.5, 0.5, 0.25])


@pytest.mark.parametrize(("cls", "reference", "config"), CASES, ids=CASE_IDS)
def test_config_round_trip(
    float64: None, cls: type, reference: Callable[..., np.ndarray], config: dict[str, Any]
) -> None:
    schedule = cls(**config)
    serialized = schedules.serialize(schedule)
    assert serialized["class_name"] == cls.__name__
    restored = schedules.deserialize(json.loads(json.dumps(serialized)))
    assert type(restored) is cls and restored.get_config() == schedule.get_config()
    steps = hn.ops.to_tensor(STEPS.astype(np.int64))
    np.testing.assert_array_equal(restored(steps).numpy(), schedule(steps).numpy())


def test_keras_defaults() -> None:
    assert schedules.PolynomialDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1, "decay_steps": 10.0, "end_learning_rate": 0.0001, "power": 1.0, "cycle": False,
        "name": "PolynomialDecay",
    }  # fmt: skip
    cosine_config = schedules.CosineDecay(0.1, 10).get_config()
    assert (cosine_config["alpha"], cosine_config["warmup_target"], cosine_config["warmup_steps"]) == (0.0, None, 0.0)
    assert schedules.ExponentialDecay(0.1, 10, 0.9).staircase is False
    assert schedules.InverseTimeDecay(0.1, 10, 0.9).staircase is False


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), ValueError, ["decay_steps", "> 0", "0"]),
        (lambda: schedules.ExponentialDecay(0.1, -5, 0.5), ValueError, ["decay_steps", "-5"]),
        (lambda: schedules.ExponentialDecay(0.1, "10", 0.5), TypeError, ["decay_steps", "'10'", "str"]),
        (lambda: schedules.ExponentialDecay(0.1, 10, 0.0), ValueError, ["decay_rate", "> 0"]),
        (lambda: schedules.ExponentialDecay(-0.1, 10, 0.5), ValueError, ["initial_learning_rate", ">= 0", "-0.1"]),
        (
            lambda: schedules.ExponentialDecay(0.1, 10, 0.5, staircase="yes"),
            TypeError,
            ["staircase", "True or False", "'yes'"],
        ),
        (lambda: schedules.InverseTimeDecay(0.1, 10, -1.0), ValueError, ["decay_rate", ">= 0", "-1.0"]),
        (lambda: schedules.InverseTimeDecay(0.1, math.inf, 1.0), ValueError, ["decay_steps", "inf"]),
        (
            lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]),
            ValueError,
            ["one more", "2 boundaries", "2 values"],
        ),
        (
            lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]),
            ValueError,
            ["strictly increasing", "[20, 10]"],
        ),
        (lambda: schedules.PiecewiseConstantDecay([10, 10], [1.0, 0.5, 0.1]), ValueError, ["strictly increasing"]),
        (lambda: schedules.PiecewiseConstantDecay([10], [1.0, "x"]), TypeError, ["values[1]", "'x'"]),
        (lambda: schedules.PiecewiseConstantDecay(10, [1.0, 0.5]), TypeError, ["boundaries", "list of numbers", "10"]),
        (lambda: schedules.PiecewiseConstantDecay([10], [1.0, -0.5]), ValueError, ["values[1]", ">= 0"]),
        (lambda: schedules.PolynomialDecay(0.1, 0), ValueError, ["decay_steps"]),
        (lambda: schedules.PolynomialDecay(0.1, 10, power=-1.0), ValueError, ["power", ">= 0"]),
        (lambda: schedules.PolynomialDecay(0.1, 10, end_learning_rate=-0.01), ValueError, ["end_learning_rate"]),
        (lambda: schedules.PolynomialDecay(0.1, 10, cycle=1), TypeError, ["cycle", "True or False"]),
        (lambda: schedules.CosineDecay(0.1, 10, alpha=1.5), ValueError, ["alpha", "[0, 1]", "1.5"]),
        (lambda: schedules.CosineDecay(0.1, -10), ValueError, ["decay_steps", "-10"]),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_target=-0.2, warmup_steps=5), ValueError, ["warmup_target"]),
        (
            lambda: schedules.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-5),
            ValueError,
            ["warmup_steps", "-5"],
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(build: Callable[[], Any], error: type[Exception], words: list[str]) -> None:
    with pytest.raises(error) as raised:
        build()
    message = str(raised.value)
    assert all(word in message for word in words), message


def test_deserialize_rejects_unknown_and_malformed_configs() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown learning rate schedule: 'StepDecay'.*Valid learning rate schedules are: CosineDecay"
    ):
        schedules.deserialize({"class_name": "StepDecay", "config": {}})
    with pytest.raises(ValueError, match="'class_name'"):
        schedules.deserialize(["ExponentialDecay"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decay_rate"):
        schedules.deserialize(
            {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10}}
        )


def test_custom_schedule_needs_call_and_get_config(float64: None) -> None:
    with pytest.raises(TypeError, match="abstract"):
        schedules.LearningRateSchedule()  # type: ignore[abstract]

    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step: hn.Tensor | int) -> hn.Tensor:
            return 0.1 * hn.ops.pow(0.5, hn.ops.cast(step, "float64"))

    assert Halving()(3).item() == pytest.approx(0.0125)
    with pytest.raises(NotImplementedError, match=r"Halving.*get_config"):
        schedules.serialize(Halving())


def test_custom_schedule_round_trips_through_custom_objects(float64: None) -> None:
    class Linear(schedules.LearningRateSchedule):
        def __init__(self, start: float, slope: float) -> None:
            self.start, self.slope = start, slope

        def __call__(self, step: hn.Tensor | int) -> hn.Tensor:
            return self.start - self.slope * hn.ops.cast(step, "float64")

        def get_config(self) -> dict[str, Any]:
            return {"start": self.start, "slope": self.slope}

    optimizer = hn.optimizers.Adam(learning_rate=Linear(0.1, 0.01))
    serialized = hn.optimizers.serialize(optimizer)
    with pytest.raises(ValueError, match="Unknown learning rate schedule: 'Linear'"):
        hn.optimizers.deserialize(serialized)
    restored = hn.optimizers.deserialize(serialized, custom_objects={"Linear": Linear})
    assert restored.get_config() == optimizer.get_config()
    assert restored.learning_rate.item() == pytest.approx(0.1)


def test_cosine_decay_restarts_as_keras_tests_it(float64: None) -> None:
    schedule = schedules.CosineDecayRestarts(1.0, 1000)
    for step in range(0, 1500, 250):
        assert float(schedule(step)) == pytest.approx(cosine_restarts(np.array([step]), 1.0, 1000)[0], abs=1e-6)
    assert schedule.get_config() == {
        "initial_learning_rate": 1.0, "first_decay_steps": 1000.0, "t_mul": 2.0, "m_mul": 1.0, "alpha": 0.0,
        "name": "SGDRDecay",
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"CosineDecayRestarts: `first_decay_steps` must be a number > 0, received 0"):
        schedules.CosineDecayRestarts(0.1, 0)
    with pytest.raises(ValueError, match=r"CosineDecayRestarts: `t_mul` must be a number > 0, received -2"):
        schedules.CosineDecayRestarts(0.1, 10, t_mul=-2)
