"""Backend, device and float-type selection: environment variables, code, and their errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import highnn as hn
from highnn.backends import DeviceUnavailableError, load_backend


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


def test_numpy_float32_is_the_default() -> None:
    result = run_python("import highnn as hn; print(hn.config.backend(), hn.config.floatx(), hn.config.device())",
                        HIGHNN_BACKEND="", HIGHNN_FLOATX="", HIGHNN_DEVICE="")  # fmt: skip
    assert result.stdout.split() == ["numpy", "float32", "cpu"], result.stderr


def test_environment_variables_choose_float_type() -> None:
    result = run_python(
        "import highnn as hn; print(hn.tensor(1.0).dtype, hn.layers.Dense(2)(hn.tensor([[1.0]])).dtype)",
        HIGHNN_FLOATX="float64",
    )
    assert result.stdout.split() == ["float64", "float64"], result.stderr


def test_unknown_backend_is_a_one_line_error_naming_the_choices() -> None:
    result = run_python("import highnn", HIGHNN_BACKEND="tensorflow")
    assert result.returncode != 0
    assert "ValueError: Unknown HIGHNN_BACKEND 'tensorflow'; choose one of: numpy, torch, jax." in result.stderr
    with pytest.raises(ValueError, match="choose one of: numpy, torch, jax"):
        hn.config.set_backend("mxnet")


def test_numpy_backend_refuses_accelerators() -> None:
    for device in ("gpu", "cuda:1", "tpu", "mps"):
        with pytest.raises(
            DeviceUnavailableError, match=r"numpy backend runs on the CPU only.*use HIGHNN_BACKEND=torch or jax"
        ):
            load_backend("numpy", device)
    with pytest.raises(
        ValueError, match=r"HIGHNN_DEVICE must be one of cpu, gpu, cuda, cuda:N, tpu, mps; received 'quantum'"
    ):
        load_backend("numpy", "quantum")


def test_bad_floatx_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"floatx must be one of \('float32', 'float64'\), received 'float16'"):
        hn.config.set_floatx("float16")
    result = run_python("import highnn", HIGHNN_FLOATX="bfloat16")
    assert "floatx must be one of" in result.stderr


def test_use_backend_restores_settings() -> None:
    before = (hn.config.backend(), hn.config.floatx())
    with hn.config.use_backend("numpy", floatx="float64"):
        assert hn.tensor(np.float32(1.0)).dtype == "float64"
    assert (hn.config.backend(), hn.config.floatx()) == before


def test_set_random_seed_rejects_non_integers() -> None:
    with pytest.raises(TypeError, match=r"`seed` must be an integer, received 1.5"):
        hn.utils.set_random_seed(1.5)  # type: ignore[arg-type]
