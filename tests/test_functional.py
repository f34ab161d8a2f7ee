"""The functional API: symbolic inputs, graphs of layer calls, shared and nested layers, saving."""

from __future__ import annotations

import json
import runpy
import zipfile
from pathlib import Path

import numpy as np
import pytest

import highnn as hn
from highnn import layers

RNG = np.random.default_rng(0)


def two_in_two_out() -> hn.Model:
    hn.utils.set_random_seed(1)
    a, b = hn.Input((4,), name="a"), hn.Input((3,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    merged = layers.Concatenate()([shared(layers.Dense(4, name="pre")(b)), shared(a)])
    return hn.Model({"a": a, "b": b}, [layers.Dense(2, name="head")(merged), layers.Add()([shared(a), shared(a)])])


def test_input_is_symbolic_and_layer_calls_infer_shapes() -> None:
    x = hn.Input(shape=(None, 3), name="seq")
    assert x.shape == (None, None, 3) and x.dtype == hn.config.settings.floatx
    y = layers.Dense(7)(x)
    assert y.shape == (None, None, 7) and y.node.layer.name == y.name
    assert layers.Lambda(lambda t: t.sum(axis=2))(x).shape == (None, None)
    assert hn.Input(batch_shape=(8, 2)).shape == (8, 2)
    assert layers.Lambda(lambda t: t * 2.0)(hn.Input((3,), batch_size=2)).shape == (2, 3)  # by inference


def test_symbolic_shape_inference_has_no_side_effects() -> None:
    class Counter(layers.Layer):
        def build(self, input_shape: tuple[int | None, ...]) -> None:
            self.count = self.add_state_variable(np.zeros(()), "count")

        def call(self, inputs: hn.Tensor) -> hn.Tensor:
            self.count.assign(self.count + 1.0)
            hn.random.new_seed()  # a random draw
            return inputs * 2.0

    hn.utils.set_random_seed(3)
    expected = hn.random.generator().bit_generator.state
    layer = Counter()
    out = layer(hn.Input((2,)))
    assert out.shape == (None, 2)
    assert layer.count.numpy() == 0.0 and hn.random.generator().bit_generator.state == expected


def test_unsupported_symbolic_use_names_itself_and_the_migration_guide() -> None:
    x = hn.Input((3,))
    for attempt in (lambda: x + 1.0, lambda: hn.ops.relu(x), lambda: np.asarray(x), lambda: int(x)):
        with pytest.raises(TypeError, match=r"symbolic tensor .* docs/keras-migration.md"):
            attempt()


def test_multi_input_multi_output_shared_layers_and_dict_inputs() -> None:
    model = two_in_two_out()
    a, b = RNG.normal(size=(6, 4)), RNG.normal(size=(6, 3))
    out_dict = model({"a": a, "b": b})
    out_list = model([a, b])
    assert [o.shape for o in out_dict] == [(6, 2), (6, 5)]
    np.testing.assert_allclose(out_dict[0].numpy(), out_list[0].numpy())
    shared = model.get_layer("shared")
    assert len(shared.weights) == 2 and len(model.weights) == 2 + 2 + 2  # pre, shared once, head
    np.testing.assert_allclose(out_dict[1].numpy(), 2 * np.tanh(a @ shared.get_weights()[0] + shared.get_weights()[1]),
                               rtol=1e-5)  # fmt: skip
    assert model.get_layer(index=0).name == "a" and [t.name for t in model.inputs] == ["a", "b"]
    assert shared.input.name == "pre" and shared.output.shape == (None, 5)
    with pytest.raises(ValueError, match=r"no entry for \['b'\]"):
        model({"a": a})
    with pytest.raises(ValueError, match=r"expects 2 input\(s\) .*received 1"):
        model([a])
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")


def test_graph_errors_are_clear() -> None:
    a, b = hn.Input((2,)), hn.Input((2,))
    with pytest.raises(ValueError, match="Graph disconnected"):
        hn.Model(a, layers.Add()([a, b]))
    with pytest.raises(TypeError, match=r"Model: `outputs` must be a symbolic tensor"):
        hn.Model(a, np.ones(2))
    with pytest.raises(ValueError, match=r"must come from hn\.Input"):
        hn.Model(layers.Dense(2)(a), a)


def test_nested_model_and_feature_extraction() -> None:
    hn.utils.set_random_seed(2)
    x = hn.Input((4,))
    hidden = layers.Dense(6, activation="relu", name="hidden")(x)
    inner = hn.Model(x, layers.Dense(3, name="out")(hidden), name="inner")
    features = hn.Model(inner.inputs, inner.get_layer("hidden").output)
    data = RNG.normal(size=(5, 4))
    np.testing.assert_allclose(
        features(data).numpy(), np.maximum(data @ inner.get_layer("hidden").get_weights()[0], 0), rtol=1e-5
    )
    outer_in = hn.Input((4,))
    outer = hn.Model(outer_in, layers.Dense(1)(inner(outer_in)))
    assert outer(data).shape == (5, 1) and len(outer.weights) == 6
    inner_seq = hn.Sequential([hn.Input((4,)), layers.Dense(2)])
    assert hn.Model(outer_in, inner_seq(outer_in)).outputs[0].shape == (None, 2)


def test_fit_evaluate_predict_through_the_trainer() -> None:
    hn.utils.set_random_seed(0)
    x = hn.Input((3,))
    model = hn.Model(x, layers.Dense(1)(layers.Dense(16, activation="tanh")(x)))
    model.compile(hn.optimizers.Adam(0.05), "mse")
    data = RNG.normal(size=(64, 3))
    target = data.sum(axis=1, keepdims=True)
    history = model.fit(data, target, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.5
    assert model.predict(data, verbose=0).shape == (64, 1)
    assert model.evaluate(data, target, verbose=0) == pytest.approx(history.history["loss"][-1], rel=0.5)


def test_summary_shows_connections() -> None:
    lines: list[str] = []
    two_in_two_out().summary(print_fn=lines.append)
    text = lines[0]
    assert "Connected to" in text and "shared (Dense)" in text and "pre[0][0]" in text and "Total params: 63" in text


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_save_and_load_round_trip(tmp_path, backend: str) -> None:
    from helpers import require_backend

    require_backend(backend)
    model = two_in_two_out()
    inner_in = hn.Input((4,))
    nested = hn.Model(model.inputs, [layers.Dense(1)(model.outputs[0]), model.outputs[1]])
    del inner_in
    data = {"a": RNG.normal(size=(3, 4)), "b": RNG.normal(size=(3, 3))}
    expected = [o.numpy() for o in nested(data)]
    path = tmp_path / "model.highnn"
    nested.save(path)
    with hn.config.use_backend(backend):
        loaded = hn.models.load_model(path)
        got = [o.numpy() for o in loaded(data)]
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in nested.layers]


def test_lambda_is_refused_when_loading(tmp_path) -> None:
    x = hn.Input((2,))
    model = hn.Model(x, layers.Lambda(lambda t: t * 2.0, name="double")(x))
    model.save(tmp_path / "lambda.highnn")
    with pytest.raises(hn.saving.SavedFileError, match="Lambda layer 'double' wraps Python code"):
        hn.models.load_model(tmp_path / "lambda.highnn")


def test_plot_model_writes_dot_and_renders_with_graphviz_when_present(tmp_path, monkeypatch, capsys) -> None:
    model = two_in_two_out()
    text = hn.utils.model_to_dot(model, show_shapes=True, show_layer_activations=True, rankdir="LR")
    assert "rankdir=LR;" in text and "shared (Dense)|activation: tanh|output: (None, 5)" in text
    assert text.count("->") == 6  # a->shared, b->pre, pre->shared, shared->concatenate, concatenate->head, shared->add
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    written = hn.utils.plot_model(model, to_file=tmp_path / "model.png")
    assert written == str(tmp_path / "model.dot") and not (tmp_path / "model.png").exists()
    assert "`dot` program is not installed" in capsys.readouterr().out
    fake = tmp_path / "bin" / "dot"  # a stand-in for Graphviz: copies its input to the -o file
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nexec /bin/cp "$2" "$4"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert hn.utils.plot_model(model, to_file=tmp_path / "model.svg") == str(tmp_path / "model.svg")
    assert (tmp_path / "model.svg").read_text() == hn.utils.model_to_dot(model)
    with pytest.raises(ValueError, match=r"model_to_dot: `rankdir` must be one of"):
        hn.utils.model_to_dot(model, rankdir="up")


def test_several_inputs_train_evaluate_and_predict_from_lists_and_dicts() -> None:
    hn.utils.set_random_seed(4)
    a, b = hn.Input((3,), name="a"), hn.Input((2,), name="b")
    out = layers.Dense(1)(layers.Concatenate()([layers.Dense(8, activation="tanh")(a), b]))
    model = hn.Model([a, b], out)
    model.compile(hn.optimizers.Adam(0.05), "mse", metrics=["mae"])
    xa, xb = RNG.normal(size=(40, 3)), RNG.normal(size=(40, 2))
    target = xa.sum(axis=1, keepdims=True) - xb[:, :1]
    history = model.fit({"a": xa, "b": xb}, target, epochs=15, batch_size=8, verbose=0, validation_split=0.25)
    assert history.history["loss"][-1] < history.history["loss"][0] and "val_mae" in history.history
    predicted = model.predict([xa, xb], batch_size=16, verbose=0)
    np.testing.assert_allclose(predicted, model([xa, xb]).numpy(), rtol=1e-5, atol=1e-6)
    assert model.evaluate([xa, xb], target, verbose=0)[0] == pytest.approx(np.mean((predicted - target) ** 2), rel=1e-4)
    assert len(model.compute_gradients({"a": xa, "b": xb}, target)) == len(model.trainable_weights)
    with pytest.raises(ValueError, match=r"expects 2 input\(s\)"):
        model.predict([xa], verbose=0)


def test_predict_returns_one_array_per_output_in_the_outputs_structure() -> None:
    hn.utils.set_random_seed(6)
    x = hn.Input((3,), name="x")
    hidden = layers.Dense(4, activation="relu")(x)
    as_dict = hn.Model(x, {"score": layers.Dense(1)(hidden), "code": layers.Dense(2)(hidden)})
    data = RNG.normal(size=(10, 3))
    predicted = as_dict.predict(data, batch_size=4, verbose=0)
    assert list(predicted) == ["score", "code"] and predicted["code"].shape == (10, 2)
    np.testing.assert_allclose(predicted["score"], as_dict(data)["score"].numpy(), rtol=1e-5, atol=1e-6)
    as_list = hn.Model(x, [as_dict.output["code"], hidden])
    assert [p.shape for p in as_list.predict(data, verbose=0)] == [(10, 2), (10, 4)]
    assert as_list.input is x and as_dict.output["score"].shape == (None, 1)


def test_functional_forms_of_the_merging_layers() -> None:
    a, b = hn.Input((3,)), hn.Input((3,))
    assert layers.concatenate([a, b], axis=-1).shape == (None, 6)
    assert layers.dot([a, b], axes=1, normalize=True).shape == (None, 1)
    for merge in (layers.add, layers.subtract, layers.multiply, layers.average, layers.maximum, layers.minimum):
        assert merge([a, b]).shape == (None, 3)


def several_outputs() -> hn.Model:
    hn.utils.set_random_seed(8)
    x = hn.Input((4,), name="x")
    hidden = layers.Dense(16, activation="relu")(x)
    return hn.Model(
        x, [layers.Dense(3, activation="softmax", name="kind")(hidden), layers.Dense(1, name="size")(hidden)]
    )


KINDS = (RNG.normal(size=(48, 4)) > 0).sum(axis=1) % 3
SIZES = RNG.normal(size=(48, 1))
FEATURES = RNG.normal(size=(48, 4))


def test_several_outputs_train_with_weighted_losses_and_keras_log_names() -> None:
    model = several_outputs()
    model.compile(hn.optimizers.Adam(0.01), loss={"kind": "sparse_categorical_crossentropy", "size": "mse"},
                  loss_weights=[1.0, 0.5], metrics={"kind": ["accuracy"], "size": ["mae"]})  # fmt: skip
    history = model.fit(FEATURES, {"kind": KINDS, "size": SIZES}, epochs=4, batch_size=16, verbose=0,
                        validation_data=(FEATURES, [KINDS, SIZES]))  # fmt: skip
    assert list(history.history) == ["loss", "kind_loss", "size_loss", "kind_accuracy", "size_mae", "val_loss",
                                     "val_kind_loss", "val_size_loss", "val_kind_accuracy", "val_size_mae"]  # fmt: skip
    assert history.history["loss"][-1] < history.history["loss"][0]
    logs = model.evaluate(FEATURES, [KINDS, SIZES], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["kind_loss"] + 0.5 * logs["size_loss"], rel=1e-5)
    kind, size = model.predict(FEATURES, verbose=0)
    assert logs["size_mae"] == pytest.approx(np.mean(np.abs(size - SIZES)), rel=1e-4)
    assert logs["kind_accuracy"] == pytest.approx(np.mean(kind.argmax(axis=1) == KINDS))


def test_several_outputs_gradients_are_the_weighted_sum_of_each_outputs() -> None:
    model = several_outputs()
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"], loss_weights={"kind": 2.0, "size": 3.0})
    both = model.compute_gradients(FEATURES, [KINDS, SIZES])
    model.compile("sgd", loss=["sparse_categorical_crossentropy", None])
    kind_only = model.compute_gradients(FEATURES, [KINDS, SIZES])
    model.compile("sgd", loss=[None, "mse"])
    size_only = model.compute_gradients(FEATURES, [KINDS, SIZES])
    for total, k, s in zip(both, kind_only, size_only):
        np.testing.assert_allclose(total, 2.0 * k + 3.0 * s, rtol=1e-4, atol=1e-6)


def test_several_outputs_compile_and_target_errors() -> None:
    model = several_outputs()
    with pytest.raises(ValueError, match=r"compile: `loss_weights` must be a list of 2 entries"):
        model.compile("sgd", loss="mse", loss_weights=[1.0])
    with pytest.raises(ValueError, match=r"compile: `loss` must be a dict keyed by output names \['kind', 'size'\]"):
        model.compile("sgd", loss={"kinds": "mse"})
    model.compile("sgd", loss="mse")
    with pytest.raises(ValueError, match=r"the targets have no entry for \['size'\]"):
        model.fit(FEATURES, {"kind": KINDS}, verbose=0)
    with pytest.raises(ValueError, match=r"has 2 outputs .*pass the targets as a list of 2 arrays"):
        model.evaluate(FEATURES, SIZES, verbose=0)


def test_a_compiled_model_of_several_outputs_saves_and_loads_its_compile_config(tmp_path) -> None:
    model = several_outputs()
    model.compile("adam", loss={"kind": "sparse_categorical_crossentropy", "size": hn.losses.Huber(delta=0.5)},
                  loss_weights={"kind": 1.0, "size": 0.25}, metrics=[["accuracy"], ["mae", "mse"]])  # fmt: skip
    model.fit(FEATURES, [KINDS, SIZES], epochs=1, verbose=0)
    expected = model.evaluate(FEATURES, [KINDS, SIZES], verbose=0, return_dict=True)
    model.save(tmp_path / "two_heads.highnn")
    loaded = hn.models.load_model(tmp_path / "two_heads.highnn")
    assert loaded.evaluate(FEATURES, [KINDS, SIZES], verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-5)
    assert loaded.loss.weights == [1.0, 0.25] and loaded.loss.per_output[1].get_config()["delta"] == 0.5


def test_the_multi_io_example_learns_both_outputs(capsys) -> None:
    example = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "functional_multi_io.py"))
    logs = example["main"]()
    assert logs["digit_accuracy"] >= 0.95 and logs["ink_mae"] < 0.05
    assert "encoder (Dense)" in capsys.readouterr().out


def test_edge_graphs_identity_repeated_output_and_functional_inside_sequential() -> None:
    x = hn.Input((5,))
    np.testing.assert_array_equal(hn.Model(x, x)(np.ones((2, 5))).numpy(), np.ones((2, 5)))
    y = layers.Dense(2, name="twice")(x)
    model = hn.Model(x, [y, y])
    model.compile("sgd", "mse")
    history = model.fit(np.ones((8, 5)), [np.ones((8, 2))] * 2, verbose=0)
    assert list(history.history) == ["loss", "twice_loss", "twice_1_loss"]
    assert hn.Sequential([hn.Model(x, y), layers.Dense(1)])(np.ones((3, 5))).shape == (3, 1)
    assert hn.Sequential([layers.Dense(4), layers.Dense(2)])(x).shape == (None, 2)


class Doubling(layers.Layer):
    """A custom layer, known to loading only through custom_objects."""

    def call(self, inputs: hn.Tensor) -> hn.Tensor:
        return inputs * 2.0

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def test_nested_functional_layers_load_through_the_allow_list_and_custom_objects(tmp_path) -> None:
    x = hn.Input((3,))
    inner = hn.Model(x, Doubling()(layers.Dense(2)(x)), name="inner")
    outer_in = hn.Input((3,))
    outer = hn.Model(outer_in, layers.Dense(1)(inner(outer_in)))
    outer.save(tmp_path / "nested.highnn")
    with pytest.raises(hn.saving.SavedFileError, match="Doubling"):
        hn.models.load_model(tmp_path / "nested.highnn")
    loaded = hn.models.load_model(tmp_path / "nested.highnn", custom_objects={"Doubling": Doubling})
    data = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(loaded(data).numpy(), outer(data).numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["nodes"][1].update(inputs={"node": 1, "tensor": 0}), "names no earlier call's output"),
        (lambda c: c["nodes"][1].update(inputs={"node": 0, "tensor": 5}), "names no earlier call's output"),
        (lambda c: c["nodes"][1].update(layer=7), "must name a layer by its position"),
        (lambda c: c["nodes"][1].update(inputs="import os"), "must be tensor references, lists or dicts"),
        (lambda c: c["nodes"][0].update(layer=1), "without inputs must be an InputLayer's"),
        (lambda c: c.update(nodes={}), "needs lists `layers` and `nodes`"),
    ],
)
def test_a_tampered_graph_is_refused_with_a_clear_error(tmp_path, change, message: str) -> None:
    x = hn.Input((2,))
    path = tmp_path / "graph.highnn"
    hn.Model(x, layers.Dense(1)(x)).save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config["config"])
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(hn.saving.SavedFileError, match=message):
        hn.models.load_model(path)


def test_weights_built_during_shape_inference_keep_their_distinct_draws() -> None:
    class Pair(hn.Model):
        def __init__(self) -> None:
            super().__init__()
            self.first, self.second = layers.Dense(3), layers.Dense(3)

        def call(self, inputs: hn.Tensor) -> hn.Tensor:
            return self.second(self.first(inputs))

    hn.utils.set_random_seed(9)
    model = Pair()
    assert model(hn.Input((3,))).shape == (None, 3)
    first, second = model.first.get_weights()[0], model.second.get_weights()[0]
    later = layers.Dense(3)
    later.build((None, 3))
    assert not np.array_equal(first, second) and not np.array_equal(later.get_weights()[0], first)


def test_models_give_their_symbolic_input_and_output_shapes() -> None:
    a, b = hn.Input((2,)), hn.Input((5, 3))
    joined = hn.layers.Concatenate()([a, hn.layers.Flatten()(b)])
    model = hn.Model([a, b], [joined, hn.layers.Dense(4)(joined)])
    assert model.input_shape == [(None, 2), (None, 5, 3)] and model.output_shape == [(None, 17), (None, 4)]
    sequential = hn.Sequential([hn.Input((6,)), hn.layers.Dense(3)])
    assert sequential.input_shape == (None, 6) and sequential.output_shape == (None, 3)
    with pytest.raises(AttributeError, match="has no Input, so no symbolic inputs"):
        hn.Sequential([hn.layers.Dense(3)]).output_shape  # noqa: B018

    class Custom(hn.Model):
        def call(self, x: hn.Tensor) -> hn.Tensor:
            return x

    with pytest.raises(AttributeError, match="has no symbolic inputs: it is a subclassed model"):
        Custom().input_shape  # noqa: B018
