"""hn.verify and `python -m highnn verify`: agreement is reported, disagreement is caught."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn.__main__ import main
from highnn.ops import primitives

X = np.random.default_rng(0).normal(size=(12, 5))
Y = np.random.default_rng(1).integers(0, 3, 12)


def small_model() -> hn.Sequential:
    hn.utils.set_random_seed(0)
    model = hn.Sequential(
        [hn.Input((5,)), hn.layers.Dense(6, activation="gelu"), hn.layers.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_report_compares_every_weight_for_every_pair_and_finite_differences() -> None:
    for name in ("torch", "jax"):
        require_backend(name)
    report = hn.verify(small_model(), X, Y)
    assert report.passed and report.backends == ["numpy", "torch", "jax"]
    pairs = {(c.reference, c.other) for c in report.comparisons}
    assert pairs == {("numpy", "torch"), ("numpy", "jax"), ("numpy", "finite differences")}
    model_paths = [w.path for w in small_model().trainable_weights]
    assert len({c.weight for c in report.comparisons}) == 4 and all(
        c.weight.endswith(("/kernel", "/bias")) for c in report.comparisons
    )
    assert len(report.comparisons) == 3 * len(model_paths)
    assert max(c.max_rel for c in report.comparisons if c.other != "finite differences") < 1e-12
    text = str(report)
    assert text.splitlines()[0].split() == ["weight", "compared", "max", "abs", "diff", "max", "rel", "diff", "result"]
    assert text.rstrip().endswith("PASSED")


def test_a_wrong_gradient_rule_is_caught_by_finite_differences(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = primitives.Primitive("tanh", (lambda g, out, x: g * (1.0 - out),), primitives.check_float, 1)
    monkeypatch.setattr(primitives, "tanh", wrong)
    import highnn.activations as activations

    monkeypatch.setitem(activations.ACTIVATIONS.names, "tanh", wrong)
    hn.utils.set_random_seed(0)
    model = hn.Sequential([hn.Input((5,)), hn.layers.Dense(4, activation="tanh"), hn.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    report = hn.verify(model, X, np.ones((12, 2)), backends=["numpy"])
    assert not report.passed
    failing = {c.weight for c in report.comparisons if not c.passed}
    assert any(name.endswith("kernel") for name in failing)
    assert report.__str__().rstrip().endswith("FAILED")


def test_a_backend_that_disagrees_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    require_backend("torch")
    from highnn.backends.torch_backend import TorchBackend

    original = TorchBackend.exp
    monkeypatch.setattr(TorchBackend, "exp", staticmethod(lambda x: original(x) * (1 + 1e-6)))
    report = hn.verify(small_model(), X, Y, backends=["numpy", "torch"], finite_differences=False)
    assert not report.passed
    assert all(c.other == "torch" for c in report.comparisons if not c.passed)


def test_builder_function_and_float32() -> None:
    report = hn.verify(small_model, X, Y, backends=["numpy"], floatx="float32")
    assert report.passed and report.floatx == "float32"


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"verify: `floatx` must be one of 'float64', 'float32', received 'float16'"):
        hn.verify(small_model(), X, Y, floatx="float16")
    with pytest.raises(ValueError, match=r"unknown backends \['tensorflow'\]"):
        hn.verify(small_model(), X, Y, backends=["tensorflow"])
    uncompiled = hn.Sequential([hn.Input((5,)), hn.layers.Dense(3)])
    with pytest.raises(TypeError, match="must be a compiled model with a loss"):
        hn.verify(uncompiled, X, Y, backends=["numpy"])


def test_command_line_prints_the_table_and_sets_the_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["verify", "--backends", "numpy", "--entries", "4"]) == 0
    out = capsys.readouterr().out
    assert "numpy vs finite differences" in out and out.rstrip().endswith("PASSED")
    wrong = primitives.Primitive(
        "log_softmax", (lambda g, out, x, axis: g,), primitives.check_log_softmax, 1
    )  # drops the softmax term
    monkeypatch.setattr(primitives, "_log_softmax", wrong)
    assert main(["verify", "--backends", "numpy", "--entries", "4"]) == 1
    assert capsys.readouterr().out.rstrip().endswith("FAILED")


def test_module_entry_point_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "highnn", "verify", "--backends", "numpy", "--entries", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "backends: numpy (float64)" in result.stdout


def test_command_line_verifies_a_saved_model(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    path = f"{tmp_path}/classifier.highnn"
    small_model().save(path)
    assert main(["verify", path, "--backends", "numpy", "--entries", "3", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("numpy vs finite differences") == 4 and out.rstrip().endswith("PASSED")
