"""Every kind resolves what users write the same way (Keras's ``get``) and deserializes only from its allow-list."""

from __future__ import annotations

from typing import Any

import pytest

import highnn as hn
from highnn import constraints, initializers, layers, losses, optimizers, regularizers
from highnn.optimizers import schedules

# module, a Keras string name, the class it names, a second instance to pass through
KINDS: list[tuple[Any, str, type, Any]] = [
    (initializers, "glorot_uniform", initializers.GlorotUniform, initializers.Constant(2.0)),
    (regularizers, "l1_l2", regularizers.L1L2, regularizers.L2(0.5)),
    (constraints, "max_norm", constraints.MaxNorm, constraints.UnitNorm(axis=1)),
    (losses, "sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy, losses.Huber(2.0)),
    (optimizers, "rmsprop", optimizers.RMSprop, optimizers.SGD(0.5)),
]


@pytest.mark.parametrize(("module", "name", "cls", "instance"), KINDS)
def test_get_accepts_names_classes_configs_instances_and_none(module: Any, name: str, cls: type, instance: Any) -> None:
    assert type(module.get(name)) is cls
    assert type(module.get(cls.__name__)) is cls
    assert type(module.get(cls)) is cls
    assert module.get(instance) is instance
    assert module.get(None) is None
    again = module.get(module.serialize(instance))
    assert type(again) is type(instance) and again.get_config() == instance.get_config()
    again = module.deserialize(module.serialize(instance))
    assert type(again) is type(instance) and again.get_config() == instance.get_config()


@pytest.mark.parametrize(("module", "name", "cls", "instance"), KINDS)
def test_unknown_names_suggest_the_closest(module: Any, name: str, cls: type, instance: Any) -> None:
    with pytest.raises(ValueError, match=rf"Unknown .*: '{name}x'\. Did you mean '{name}'\?"):
        module.get(name + "x")
    with pytest.raises(ValueError, match=r"Unknown .*: 'Sneaky'"):
        module.deserialize({"class_name": "Sneaky", "config": {}})


def test_custom_classes_are_allowed_only_when_named() -> None:
    class Halved(regularizers.L2):
        pass

    config = {"class_name": "Halved", "config": {"l2": 0.5}}
    with pytest.raises(ValueError, match="Unknown regularizer: 'Halved'"):
        regularizers.deserialize(config)
    assert type(regularizers.deserialize(config, custom_objects={"Halved": Halved})) is Halved


def test_functions_pass_through_or_are_wrapped() -> None:
    def penalty(w: hn.Tensor) -> hn.Tensor:
        return hn.ops.sum(w)

    assert regularizers.get(penalty) is penalty
    assert constraints.get(penalty) is penalty
    wrapped = losses.get(lambda y_true, y_pred: y_pred)
    assert isinstance(wrapped, losses.LossFunctionWrapper)
    with pytest.raises(TypeError, match=r"optimizers\.get: `optimizer` must be a string, a config dict or an"):
        optimizers.get(penalty)  # type: ignore[arg-type]


def test_layers_and_schedules_deserialize_from_their_registries() -> None:
    dense = layers.Dense(3, activation="relu", kernel_constraint="non_neg", name="scores")
    again = layers.deserialize(layers.serialize(dense))
    assert type(again) is layers.Dense and again.get_config() == dense.get_config()
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert schedules.deserialize(schedules.serialize(schedule)).get_config() == schedule.get_config()
