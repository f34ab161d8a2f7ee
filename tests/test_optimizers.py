"""Optimizers against their published update rules (Keras 3's forms) written out independently in NumPy."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import highnn as hn
from highnn import optimizers
from highnn.optimizers import schedules

State = dict[str, np.ndarray]

# Keras 3's defaults, spelled out so the reference never relies on the implementation's.
KERAS_DEFAULTS: dict[str, dict[str, Any]] = {
    "SGD": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
    "Adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "AdamW": dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "RMSprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
    "Adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
    "Adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "Nadam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "Lion": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.99),
}
COMMON_DEFAULTS = dict(weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None)


# ------------------------------------------------- NumPy update rules
def slot(state: State, name: str, like: np.ndarray, initial: float = 0.0) -> np.ndarray:
    return state.setdefault(name, np.full_like(like, initial))


def sgd(w: np.ndarray, g: np.ndarray, s: State, t: int, lr: float, momentum: float, nesterov: bool) -> np.ndarray:
    if momentum == 0:
        return w - lr * g
    s["v"] = momentum * slot(s, "v", w) - lr * g
    return w + (momentum * s["v"] - lr * g if nesterov else s["v"])


def adam(
    w: np.ndarray,
    g: np.ndarray,
    s: State,
    t: int,
    lr: float,
    beta_1: float,
    beta_2: float,
    epsilon: float,
    amsgrad: bool,
) -> np.ndarray:
    s["m"] = beta_1 * slot(s, "m", w) + (1 - beta_1) * g
    s["v"] = beta_2 * slot(s, "v", w) + (1 - beta_2) * g**2
    v = s["v"]
    if amsgrad:
        s["v_max"] = v = np.maximum(slot(s, "v_max", w), s["v"])
    # Kingma & Ba's "epsilon hat" form: the bias corrections fold into the step size
    return w - lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t) * s["m"] / (np.sqrt(v) + epsilon)


def rmsprop(
    w: np.ndarray,
    g: np.ndarray,
    s: State,
    t: int,
    lr: float,
    rho: float,
    momentum: float,
    epsilon: float,
    centered: bool,
) -> np.ndarray:
    s["ms"] = rho * slot(s, "ms", w) + (1 - rho) * g**2
    if centered:
        s["mg"] = rho * slot(s, "mg", w) + (1 - rho) * g
        step = lr * g / np.sqrt(s["ms"] - s["mg"] ** 2 + epsilon)
    else:
        step = lr * g / np.sqrt(s["ms"] + epsilon)
    if momentum > 0:
        s["mom"] = momentum * slot(s, "mom", w) + step
        step = s["mom"]
    return w - step


def adagrad(
    w: np.ndarray, g: np.ndarray, s: State, t: int, lr: float, initial_accumulator_value: float, epsilon: float
) -> np.ndarray:
    s["a"] = slot(s, "a", w, initial_accumulator_value) + g**2
    return w - lr * g / np.sqrt(s["a"] + epsilon)


def adadelta(w: np.ndarray, g: np.ndarray, s: State, t: int, lr: float, rho: float, epsilon: float) -> np.ndarray:
    s["eg"] = rho * slot(s, "eg", w) + (1 - rho) * g**2
    dx = -np.sqrt(slot(s, "edx", w) + epsilon) / np.sqrt(s["eg"] + epsilon) * g
    s["edx"] = rho * s["edx"] + (1 - rho) * dx**2
    return w + lr * dx


def adamax(
    w: np.ndarray, g: np.ndarray, s: State, t: int, lr: float, beta_1: float, beta_2: float, epsilon: float
) -> np.ndarray:
    s["m"] = beta_1 * slot(s, "m", w) + (1 - beta_1) * g
    s["u"] = np.maximum(beta_2 * slot(s, "u", w), np.abs(g))
    return w - lr / (1 - beta_1**t) * s["m"] / (s["u"] + epsilon)


def nadam(
    w: np.ndarray, g: np.ndarray, s: State, t: int, lr: float, beta_1: float, beta_2: float, epsilon: float
) -> np.ndarray:
    def mu(i: int) -> float:  # Dozat's momentum schedule, as Keras uses it
        return beta_1 * (1 - 0.5 * 0.96**i)

    product = math.prod(mu(i) for i in range(1, t + 1))
    s["m"] = beta_1 * slot(s, "m", w) + (1 - beta_1) * g
    s["v"] = beta_2 * slot(s, "v", w) + (1 - beta_2) * g**2
    m_hat = mu(t + 1) * s["m"] / (1 - product * mu(t + 1)) + (1 - mu(t)) * g / (1 - product)
    v_hat = s["v"] / (1 - beta_2**t)
    return w - lr * m_hat / (np.sqrt(v_hat) + epsilon)


def lion(w: np.ndarray, g: np.ndarray, s: State, t: int, lr: float, beta_1: float, beta_2: float) -> np.ndarray:
    m = slot(s, "m", w)
    w = w - lr * np.sign(beta_1 * m + (1 - beta_1) * g)
    s["m"] = beta_2 * m + (1 - beta_2) * g
    return w


RULES: dict[str, Callable[..., np.ndarray]] = {
    "SGD": sgd, "Adam": adam, "AdamW": adam, "RMSprop": rmsprop, "Adagrad": adagrad, "Adadelta": adadelta,
    "Adamax": adamax, "Nadam": nadam, "Lion": lion,
}  # fmt: skip


def clip_gradients(
    grads: list[np.ndarray], clipnorm: float | None, clipvalue: float | None, global_clipnorm: float | None
) -> list[np.ndarray]:
    if clipnorm:
        return [g * min(1.0, clipnorm / np.linalg.norm(g)) for g in grads]
    if global_clipnorm:
        total = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
        return [g * min(1.0, global_clipnorm / total) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def reference_run(
    name: str,
    kwargs: dict[str, Any],
    weights: list[np.ndarray],
    grad_steps: list[list[np.ndarray]],
    rate: Callable[[int], float] | None = None,
) -> list[np.ndarray]:
    """Clip, decay the weights by ``weight_decay * lr``, then apply the rule: Keras's order."""
    config = {**COMMON_DEFAULTS, **KERAS_DEFAULTS[name], **kwargs}
    weight_decay = config.pop("weight_decay")
    clipping = {key: config.pop(key) for key in ("clipnorm", "clipvalue", "global_clipnorm")}
    base_rate = config.pop("learning_rate")
    weights = [w.copy() for w in weights]
    states: list[State] = [{} for _ in weights]
    for t, grads in enumerate(grad_steps, start=1):
        lr = rate(t - 1) if rate is not None else base_rate
        grads = clip_gradients(grads, **clipping)
        if weight_decay:
            weights = [w - w * weight_decay * lr for w in weights]
        weights = [RULES[name](w, g, s, t, lr, **config) for w, g, s in zip(weights, grads, states)]
    return weights


# ------------------------------------------------------------ fixtures
SHAPES = [(3,), (2, 2)]
SCALES = [3.0, 1.0, 0.3, 0.1]  # shrinking gradients, so AMSGrad's running maximum differs from v


def initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.normal(size=shape) for shape in SHAPES]


def gradient_steps(steps: int = len(SCALES)) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(2)
    return [[scale * rng.normal(size=shape) for shape in SHAPES] for scale in SCALES[:steps]]


def highnn_run(
    optimizer: optimizers.Optimizer, weights: list[np.ndarray], grad_steps: list[list[np.ndarray]]
) -> list[hn.Variable]:
    variables = [hn.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    for grads in grad_steps:
        optimizer.apply([hn.ops.to_tensor(g) for g in grads], variables)
    return variables


def assert_same_updates(got: list[hn.Variable], want: list[np.ndarray], start: list[np.ndarray]) -> None:
    """Compare the changes ``w - w0`` (not just ``w``), so a wrong small step cannot hide under rtol."""
    for variable, expected, w0 in zip(got, want, start):
        assert variable.dtype == "float64"
        np.testing.assert_allclose(variable.numpy() - w0, expected - w0, rtol=1e-9, atol=1e-14)


CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {}),
    ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    ("Adam", {}),
    ("Adam", dict(learning_rate=0.01, amsgrad=True)),
    ("AdamW", {}),
    ("AdamW", dict(weight_decay=0.1, amsgrad=True, beta_1=0.8)),
    ("RMSprop", {}),
    ("RMSprop", dict(momentum=0.5)),
    ("RMSprop", dict(centered=True)),
    ("RMSprop", dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True)),
    ("Adagrad", {}),
    ("Adagrad", dict(learning_rate=0.1, initial_accumulator_value=0.5, epsilon=1e-3)),
    ("Adadelta", dict(learning_rate=1.0)),
    ("Adadelta", dict(rho=0.9, epsilon=1e-4)),
    ("Adamax", {}),
    ("Adamax", dict(learning_rate=0.01, beta_1=0.5, beta_2=0.9)),
    ("Nadam", {}),
    ("Nadam", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99)),
    ("Lion", {}),
    ("Lion", dict(beta_1=0.5, beta_2=0.9)),
]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'defaults'}" for name, kwargs in CASES]
COMMON_OPTIONS = [
    {},
    dict(weight_decay=0.05),
    dict(clipnorm=0.5),
    dict(clipvalue=0.3),
    dict(global_clipnorm=0.7),
]
COMMON_IDS = ["plain", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"]


# ---------------------------------------------------------- update rules
@pytest.mark.parametrize("common", COMMON_OPTIONS, ids=COMMON_IDS)
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=CASE_IDS)
def test_updates_follow_the_formula(float64: None, name: str, kwargs: dict[str, Any], common: dict[str, Any]) -> None:
    weights, grads = initial_weights(), gradient_steps()
    arguments = {**kwargs, **common}
    for steps in (1, len(grads)):  # a single step, then several consecutive ones
        optimizer = optimizers.OPTIMIZERS.classes[name](**arguments)
        got = highnn_run(optimizer, weights, grads[:steps])
        assert_same_updates(got, reference_run(name, arguments, weights, grads[:steps]), weights)
        assert optimizer.iterations.item() == steps


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_defaults_on_every_backend(backend64: str, name: str) -> None:
    weights, grads = initial_weights(), gradient_steps(3)
    got = highnn_run(optimizers.OPTIMIZERS.classes[name](), weights, grads)
    assert_same_updates(got, reference_run(name, {}, weights, grads), weights)


def test_the_options_under_test_change_the_result(float64: None) -> None:
    """Guards the tests above: every option they vary really alters the trajectory of these gradients."""
    weights, grads = initial_weights(), gradient_steps()

    def final(name: str, **kwargs: Any) -> np.ndarray:
        return np.concatenate(
            [v.numpy().ravel() for v in highnn_run(optimizers.OPTIMIZERS.classes[name](**kwargs), weights, grads)]
        )

    plain = final("Adam", learning_rate=0.01)
    for option in [dict(amsgrad=True), *COMMON_OPTIONS[1:]]:
        assert np.abs(final("Adam", learning_rate=0.01, **option) - plain).max() > 1e-6, option
    assert np.abs(final("SGD", momentum=0.9, nesterov=True) - final("SGD", momentum=0.9)).max() > 1e-6
    assert np.abs(final("RMSprop", centered=True) - final("RMSprop")).max() > 1e-6
    np.testing.assert_array_equal(
        final("Adam", learning_rate=0.01, clipnorm=100.0), plain
    )  # below the limit: untouched


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Lion"])
def test_schedule_sets_each_step_and_the_weight_decay(float64: None, name: str) -> None:
    schedule = schedules.ExponentialDecay(0.05, decay_steps=1, decay_rate=0.5)
    kwargs = dict(momentum=0.9) if name == "SGD" else {}
    weights, grads = initial_weights(), gradient_steps()
    optimizer = optimizers.OPTIMIZERS.classes[name](learning_rate=schedule, weight_decay=0.1, **kwargs)
    got = highnn_run(optimizer, weights, grads)
    want = reference_run(name, {**kwargs, "weight_decay": 0.1}, weights, grads, rate=lambda step: 0.05 * 0.5**step)
    assert_same_updates(got, want, weights)
    assert float(optimizer.learning_rate) == pytest.approx(0.05 * 0.5 ** len(grads), rel=1e-14)


def test_adamw_is_adam_with_decoupled_weight_decay(float64: None) -> None:
    weights, grads = initial_weights(), gradient_steps()
    adamw = highnn_run(optimizers.AdamW(learning_rate=0.01), weights, grads)
    adam = highnn_run(optimizers.Adam(learning_rate=0.01, weight_decay=0.004), weights, grads)
    for a, b in zip(adamw, adam):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_nadam_keeps_the_momentum_product_in_a_variable(float64: None) -> None:
    optimizer = optimizers.Nadam(beta_1=0.8)
    highnn_run(optimizer, initial_weights(), gradient_steps(3))
    u_product = optimizer.variables[-1]
    assert u_product.path == f"{optimizer.name}/u_product" and u_product.shape == ()
    assert u_product.item() == pytest.approx(math.prod(0.8 * (1 - 0.5 * 0.96**t) for t in (1, 2, 3)), rel=1e-14)


# ------------------------------------------------------ state, config
def test_variables_are_listed_in_a_fixed_order(float64: None) -> None:
    def paths(optimizer: optimizers.Optimizer) -> list[str]:
        highnn_run(optimizer, initial_weights(), gradient_steps(1))
        assert all(v.path.startswith(f"{optimizer.name}/") for v in optimizer.variables)
        return [v.path.removeprefix(f"{optimizer.name}/") for v in optimizer.variables]

    assert paths(optimizers.Adam(amsgrad=True)) == [
        "iterations", "learning_rate", "w0_momentum", "w1_momentum",
        "w0_velocity", "w1_velocity", "w0_velocity_hat", "w1_velocity_hat",
    ]  # fmt: skip
    assert paths(optimizers.Adamax()) == [  # Keras creates Adamax's two slots variable by variable
        "iterations", "learning_rate", "w0_momentum", "w0_norm", "w1_momentum",
        "w1_norm",
    ]  # fmt: skip
    assert paths(optimizers.RMSprop(momentum=0.5, centered=True))[2:] == [
        "w0_velocity", "w1_velocity", "w0_momentum", "w1_momentum",
        "w0_average_gradient", "w1_average_gradient",
    ]  # fmt: skip
    assert paths(optimizers.Nadam())[-1] == "u_product"
    assert paths(optimizers.SGD()) == ["iterations", "learning_rate"]
    assert (
        paths(optimizers.SGD(learning_rate=schedules.InverseTimeDecay(0.1, 1, 1)))[1:] == []
    )  # a schedule is no variable


def test_variables_exist_after_build_and_adagrad_starts_from_its_initial_value(float64: None) -> None:
    optimizer = optimizers.Adagrad(initial_accumulator_value=0.25)
    assert [v.path for v in optimizer.variables] == [f"{optimizer.name}/iterations", f"{optimizer.name}/learning_rate"]
    variables = [hn.Variable(w, name=f"w{i}") for i, w in enumerate(initial_weights())]
    optimizer.build(variables)
    accumulators = optimizer.variables[2:]
    assert [a.shape for a in accumulators] == SHAPES and all(not a.trainable for a in accumulators)
    assert all(np.all(a.numpy() == 0.25) for a in accumulators)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=CASE_IDS)
def test_variables_hold_the_whole_state(float64: None, name: str, kwargs: dict[str, Any]) -> None:
    """Copying ``variables`` into a fresh optimizer (what saving does) continues the same trajectory."""
    weights, grads = initial_weights(), gradient_steps()
    trained = optimizers.OPTIMIZERS.classes[name](**kwargs)
    variables = highnn_run(trained, weights, grads[:2])
    restored = optimizers.deserialize(optimizers.serialize(trained))
    copies = [hn.Variable(v.numpy(), name=f"w{i}") for i, v in enumerate(variables)]
    restored.build(copies)
    assert [v.path for v in restored.variables] == [v.path for v in trained.variables]
    for target, source in zip(restored.variables, trained.variables):
        target.assign(source.numpy())
    for optimizer, targets in ((trained, variables), (restored, copies)):
        for step in grads[2:]:
            optimizer.apply([hn.ops.to_tensor(g) for g in step], targets)
    for a, b in zip(variables, copies):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_config_has_keras_defaults_and_round_trips(float64: None, name: str) -> None:
    cls = optimizers.OPTIMIZERS.classes[name]
    config = cls().get_config()
    assert {key: config[key] for key in KERAS_DEFAULTS[name]} == pytest.approx(KERAS_DEFAULTS[name])
    keras_prefix = name.lower()  # Keras's default names: "adam", "adamw", "rmsprop"
    assert re.fullmatch(rf"{keras_prefix}(_\d+)?", config["name"])
    schedule = schedules.CosineDecay(0.01, decay_steps=3, alpha=0.1)
    optimizer = cls(learning_rate=schedule, global_clipnorm=2.0, name="custom")
    serialized = json.loads(json.dumps(optimizers.serialize(optimizer)))
    assert serialized["config"]["learning_rate"] == schedules.serialize(schedule)
    restored = optimizers.deserialize(serialized)
    assert type(restored) is cls and restored.get_config() == optimizer.get_config()
    assert optimizers.get(serialized).get_config() == optimizer.get_config()
    weights, grads = initial_weights(), gradient_steps()
    for a, b in zip(highnn_run(optimizer, weights, grads), highnn_run(restored, weights, grads)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_get_accepts_strings_classes_and_instances() -> None:
    strings = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion"]
    assert [type(optimizers.get(s)).__name__ for s in strings] == list(KERAS_DEFAULTS)
    assert type(optimizers.get("Adam")) is optimizers.Adam
    instance = optimizers.Lion()
    assert optimizers.get(instance) is instance
    assert type(optimizers.get(optimizers.Nadam)) is optimizers.Nadam


def test_learning_rate_setter(float64: None) -> None:
    optimizer = optimizers.SGD(learning_rate=0.1)
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate.item() == 0.5 and optimizer.get_config()["learning_rate"] == 0.5
    with pytest.raises(ValueError, match=r"`learning_rate` must be a number >= 0, received -1"):
        optimizer.learning_rate = -1.0
    scheduled = optimizers.SGD(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match=r"schedule.*cannot be set"):
        scheduled.learning_rate = 0.1


def test_apply_without_variables_after_build_and_with_no_gradients(float64: None) -> None:
    variables = [hn.Variable(w, name=f"w{i}") for i, w in enumerate(initial_weights())]
    optimizer = optimizers.SGD(learning_rate=0.1)
    optimizer.apply([], [])
    assert optimizer.iterations.item() == 0 and not optimizer.built
    optimizer.build(variables)
    grads = gradient_steps(1)[0]
    optimizer.apply([hn.ops.to_tensor(g) for g in grads])
    for variable, w, g in zip(variables, initial_weights(), grads):
        np.testing.assert_allclose(variable.numpy(), w - 0.1 * g, rtol=1e-15)
    optimizer.apply_gradients([(hn.ops.to_tensor(g), v) for g, v in zip(grads, variables)])
    assert optimizer.iterations.item() == 2


# ------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: optimizers.SGD(learning_rate=-0.1), ValueError, ["SGD", "`learning_rate`", ">= 0", "-0.1"]),
        (
            lambda: optimizers.Adam(learning_rate="fast"),
            TypeError,
            ["`learning_rate`", "LearningRateSchedule", "'fast'", "str"],
        ),
        (lambda: optimizers.Adam(learning_rate=math.nan), ValueError, ["`learning_rate`", "nan"]),
        (lambda: optimizers.Adam(beta_1=1.5), ValueError, ["Adam", "`beta_1`", "[0, 1)", "1.5"]),
        (lambda: optimizers.Adam(beta_2=1.0), ValueError, ["`beta_2`", "[0, 1)", "1.0"]),
        (lambda: optimizers.AdamW(beta_1=-0.1), ValueError, ["AdamW", "`beta_1`", "-0.1"]),
        (lambda: optimizers.Adamax(beta_2=2), ValueError, ["Adamax", "`beta_2`"]),
        (lambda: optimizers.Nadam(beta_1="0.9"), TypeError, ["Nadam", "`beta_1`", "'0.9'", "str"]),
        (lambda: optimizers.Lion(beta_1=0.0), ValueError, ["Lion", "`beta_1`", "(0, 1]", "0.0"]),
        (lambda: optimizers.Lion(beta_2=1.1), ValueError, ["Lion", "`beta_2`", "[0, 1]"]),
        (lambda: optimizers.SGD(momentum=-0.5), ValueError, ["SGD", "`momentum`", "[0, 1]", "-0.5"]),
        (lambda: optimizers.SGD(nesterov="yes"), TypeError, ["`nesterov`", "True or False", "'yes'"]),
        (lambda: optimizers.Adam(amsgrad=1), TypeError, ["`amsgrad`", "True or False"]),
        (lambda: optimizers.RMSprop(rho=1.5), ValueError, ["RMSprop", "`rho`", "1.5"]),
        (lambda: optimizers.RMSprop(centered=None), TypeError, ["`centered`", "None"]),
        (lambda: optimizers.Adadelta(rho=-1), ValueError, ["Adadelta", "`rho`"]),
        (
            lambda: optimizers.Adagrad(initial_accumulator_value=-0.1),
            ValueError,
            ["`initial_accumulator_value`", ">= 0"],
        ),
        (lambda: optimizers.Adam(epsilon=-1e-7), ValueError, ["`epsilon`", ">= 0"]),
        (
            lambda: optimizers.SGD(clipnorm=1.0, clipvalue=0.5),
            ValueError,
            ["only one of", "clipnorm=1.0", "clipvalue=0.5"],
        ),
        (
            lambda: optimizers.Adam(clipnorm=1.0, global_clipnorm=2.0, clipvalue=3.0),
            ValueError,
            ["clipnorm=1.0", "clipvalue=3.0", "global_clipnorm=2.0"],
        ),
        (lambda: optimizers.Adam(clipnorm=-1.0), ValueError, ["`clipnorm`", ">= 0", "-1.0"]),
        (lambda: optimizers.Adam(global_clipnorm="big"), TypeError, ["`global_clipnorm`", "'big'"]),
        (lambda: optimizers.SGD(weight_decay=-0.01), ValueError, ["`weight_decay`", "-0.01"]),
        (lambda: optimizers.AdamW(weight_decay=None), ValueError, ["AdamW", "`weight_decay`", "None"]),
        (lambda: optimizers.Adam(decay=0.1), TypeError, ["decay"]),
        (
            lambda: optimizers.get("adamm"),
            ValueError,
            ["Unknown optimizer: 'adamm'", "Did you mean 'adam'", "Valid optimizers are: Adadelta", "adamw"],
        ),
        (lambda: optimizers.get(0.1), TypeError, ["`optimizer`", "0.1", "float"]),
        (
            lambda: optimizers.deserialize({"class_name": "Adafactor", "config": {}}),
            ValueError,
            ["Unknown optimizer: 'Adafactor'", "AdamW"],
        ),
        (lambda: optimizers.deserialize("adam"), ValueError, ["'class_name'", "'adam'"]),
    ],
)
def test_bad_arguments_raise_clear_errors(
    float64: None, build: Callable[[], Any], error: type[Exception], words: list[str]
) -> None:
    with pytest.raises(error) as raised:
        build()
    message = str(raised.value)
    assert all(word in message for word in words), message


def test_apply_errors(float64: None) -> None:
    variables = [hn.Variable(w, name=f"w{i}") for i, w in enumerate(initial_weights())]
    grads = [hn.ops.to_tensor(g) for g in gradient_steps(1)[0]]
    optimizer = optimizers.Adam()
    with pytest.raises(ValueError, match=r"Adam.apply: pass `variables`"):
        optimizer.apply(grads)
    with pytest.raises(ValueError, match=r"received 1 gradients for 2 variables"):
        optimizer.apply(grads[:1], variables)
    optimizer.apply(grads, variables)
    stranger = hn.Variable(np.zeros(3), name="stranger")
    with pytest.raises(ValueError, match=r"\['stranger'\] are not among the 2 this optimizer was built with"):
        optimizer.apply(grads[:1], [stranger])


# ------------------------------------------------------ training in fit
FIT_CONFIGS: dict[str, dict[str, Any]] = {
    "SGD": dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    "Adam": dict(learning_rate=0.02, amsgrad=True, clipnorm=1.0),
    "AdamW": dict(learning_rate=0.02, weight_decay=0.1),
    "RMSprop": dict(learning_rate=0.01, momentum=0.5, centered=True),
    "Adagrad": dict(learning_rate=0.1, clipvalue=0.5),
    "Adadelta": dict(learning_rate=1.0, global_clipnorm=1.0),
    "Adamax": dict(learning_rate=schedules.PolynomialDecay(0.05, decay_steps=6, end_learning_rate=0.01)),
    "Nadam": dict(learning_rate=schedules.CosineDecay(0.0, decay_steps=6, warmup_target=0.03, warmup_steps=3)),
    "Lion": dict(learning_rate=0.005, weight_decay=0.05),
}


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 4))
    return x, x @ np.array([[1.0], [-2.0], [0.5], [0.0]]) + 0.1 * rng.normal(size=(24, 1))


def train(
    optimizer: optimizers.Optimizer | str, run_eagerly: bool, epochs: int = 3
) -> tuple[hn.Sequential, list[float]]:
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input(shape=(4,)), hn.layers.Dense(5, activation="tanh"), hn.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse", run_eagerly=run_eagerly)
    x, y = regression_data()
    history = model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize("name", list(FIT_CONFIGS))
def test_fit_compiled_equals_eager_and_trains(float64: None, name: str) -> None:
    compiled, losses = train(optimizers.OPTIMIZERS.classes[name](**FIT_CONFIGS[name]), run_eagerly=False)
    eager, eager_losses = train(optimizers.OPTIMIZERS.classes[name](**FIT_CONFIGS[name]), run_eagerly=True)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-10)
    for a, b in zip(compiled.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(compiled.optimizer.variables, eager.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)
    assert compiled.optimizer.iterations.item() == 9


def test_fit_compiled_equals_eager_on_every_backend(backend64: str) -> None:
    """Nadam: per-weight slots, a shared state variable and a warmup schedule, in one compiled step."""
    compiled, _ = train(optimizers.Nadam(**FIT_CONFIGS["Nadam"]), run_eagerly=False, epochs=1)
    eager, _ = train(optimizers.Nadam(**FIT_CONFIGS["Nadam"]), run_eagerly=True, epochs=1)
    for a, b in zip(compiled.get_weights() + [v.numpy() for v in compiled.optimizer.variables],
                    eager.get_weights() + [v.numpy() for v in eager.optimizer.variables]):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(KERAS_DEFAULTS))
def test_compile_with_a_string(float64: None, name: str) -> None:
    model, _ = train(name.lower(), run_eagerly=False, epochs=1)
    assert type(model.optimizer) is optimizers.OPTIMIZERS.classes[name]
    assert model.optimizer.iterations.item() == 3


@pytest.mark.parametrize("run_eagerly", [False, True], ids=["compiled", "eager"])
def test_schedule_drives_the_learning_rate_inside_fit(backend64: str, run_eagerly: bool) -> None:
    """Plain SGD on a linear least-squares model, simulated step by step in NumPy with the schedule's rates."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 1))
    schedule = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)
    model = hn.Sequential([hn.Input(shape=(3,)), hn.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=optimizers.SGD(learning_rate=schedule), loss="mse", run_eagerly=run_eagerly)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    w = np.zeros((3, 1))
    for step in range(6):
        xb, yb = x[4 * (step % 3) : 4 * (step % 3 + 1)], y[4 * (step % 3) : 4 * (step % 3 + 1)]
        w = w - 0.1 * 0.5 ** (step // 2) * 2 / len(xb) * xb.T @ (xb @ w - yb)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=1e-12, atol=1e-15)
    assert model.optimizer.iterations.item() == 6
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**3, rel=1e-14)


def test_setting_the_learning_rate_reaches_the_compiled_step(float64: None) -> None:
    model, _ = train(optimizers.SGD(learning_rate=0.1), run_eagerly=False, epochs=1)
    before = model.get_weights()
    model.optimizer.learning_rate = 0.0
    model.fit(*regression_data(), batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations.item() == 6
