"""highnn.checks: one voice for argument errors, the right error type, and values passed through."""

from __future__ import annotations

import math

import numpy as np
import pytest

from highnn import checks


def test_check_number_passes_floats_through_and_accepts_numpy_scalars() -> None:
    assert checks.check_number("Adam", "beta_1", 0.9, 0.0, 1.0, high_open=True) == 0.9
    assert checks.check_number("Adam", "beta_1", np.float32(0.5), 0.0, 1.0) == 0.5
    assert isinstance(checks.check_number("SGD", "momentum", 1, 0.0), float)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("0.1", TypeError, r"SGD: `momentum` must be a number in \[0, 1\], received '0.1' of type str\."),
        (True, TypeError, r"of type bool"),
        (None, TypeError, r"received None of type NoneType"),
        (1.5, ValueError, r"SGD: `momentum` must be a number in \[0, 1\], received 1\.5\.$"),
        (-0.1, ValueError, r"received -0\.1\.$"),
        (math.nan, ValueError, r"received nan"),
    ],
)
def test_check_number_names_owner_argument_expectation_and_value(value: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        checks.check_number("SGD", "momentum", value, 0.0, 1.0)


def test_open_bounds_are_described_and_enforced() -> None:
    with pytest.raises(ValueError, match=r"must be a number in \(0, 1\), received 1\.0"):
        checks.check_number("Lion", "beta_1", 1.0, 0.0, 1.0, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"must be a number > 0, received 0"):
        checks.check_number("Adam", "epsilon", 0, 0.0, low_open=True)
    with pytest.raises(ValueError, match=r"must be a finite number, received inf"):
        checks.check_number("EarlyStopping", "min_delta", math.inf)


def test_check_integer_rejects_floats_and_bools_and_checks_the_range() -> None:
    assert checks.check_integer("fit", "epochs", np.int64(3), 0) == 3
    with pytest.raises(TypeError, match=r"fit: `epochs` must be an integer >= 0, received 2\.0 of type float"):
        checks.check_integer("fit", "epochs", 2.0, 0)
    with pytest.raises(TypeError, match=r"of type bool"):
        checks.check_integer("fit", "epochs", True, 0)
    with pytest.raises(ValueError, match=r"fit: `epochs` must be an integer >= 0, received -1\.$"):
        checks.check_integer("fit", "epochs", -1, 0)


def test_check_bool_choice_and_seed() -> None:
    assert checks.check_bool("Adam", "amsgrad", False) is False
    with pytest.raises(TypeError, match=r"Adam: `amsgrad` must be True or False, received 'yes' of type str"):
        checks.check_bool("Adam", "amsgrad", "yes")
    assert checks.check_choice("EarlyStopping", "mode", "min", ("auto", "min", "max")) == "min"
    with pytest.raises(ValueError, match=r"`mode` must be one of 'auto', 'min', 'max', received 'up'"):
        checks.check_choice("EarlyStopping", "mode", "up", ("auto", "min", "max"))
    assert checks.check_seed("Dropout", None) is None
    assert checks.check_seed("Dropout", np.int32(7)) == 7
    with pytest.raises(ValueError, match=r"Dropout: `seed` must be an integer in \[0, 4294967295\], received -1\."):
        checks.check_seed("Dropout", -1)
