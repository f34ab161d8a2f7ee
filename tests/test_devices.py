"""Device selection: each name maps to the backend's own device, and a missing device is a one-line error."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import require_backend

import highnn as hn
from highnn.backends import DeviceUnavailableError, load_backend


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("device", ["cuda", "gpu", "cuda:1", "tpu", "mps"])
def test_missing_accelerators_are_one_line_errors_naming_a_fix(backend: str, device: str) -> None:
    require_backend(backend)
    with pytest.raises(DeviceUnavailableError) as raised:
        load_backend(backend, device).asarray(1.0, "float32")  # JAX looks its device up at first use
    message = str(raised.value)
    assert "\n" not in message and repr(device) in message
    assert "HIGHNN_DEVICE=cpu" in message or "HIGHNN_BACKEND=" in message


def test_environment_variable_device_error_happens_at_import() -> None:
    require_backend("torch")
    result = subprocess.run([sys.executable, "-c", "import highnn"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HIGHNN_BACKEND": "torch", "HIGHNN_DEVICE": "cuda:3"})  # fmt: skip
    assert result.returncode != 0
    assert "DeviceUnavailableError: The torch backend cannot use 'cuda:3'" in result.stderr.splitlines()[-1]


def test_jax_device_error_happens_at_first_use_not_at_import() -> None:
    require_backend("jax")
    code = "import highnn as hn; print(hn.config.device()); hn.tensor(1.0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "HIGHNN_BACKEND": "jax", "HIGHNN_DEVICE": "tpu:3"})  # fmt: skip
    assert result.returncode != 0 and result.stdout == "tpu:3\n"
    assert "DeviceUnavailableError: The jax backend cannot use 'tpu:3'" in result.stderr.splitlines()[-1]


def test_torch_device_names_map_to_torch_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    require_backend("torch")
    import torch

    from highnn.backends import torch_backend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert torch_backend._torch_device("gpu") == torch.device("cuda", 0)
    assert torch_backend._torch_device("cuda:1") == torch.device("cuda", 1)
    assert torch_backend._torch_device(None) == torch.device("cpu")
    with pytest.raises(DeviceUnavailableError, match="PyTorch sees 2 cuda device"):
        torch_backend._torch_device("cuda:2")


def test_jax_device_names_map_to_jax_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    require_backend("jax")
    import jax

    from highnn.backends import jax_backend

    fake = {"gpu": ["gpu0", "gpu1"], "tpu": ["tpu0"], "cpu": jax.devices("cpu")}
    monkeypatch.setattr(jax, "local_devices", lambda process_index=None, backend=None: fake[backend])
    assert jax_backend._jax_device("cuda:1") == ("gpu1", "cuda:1")
    assert jax_backend._jax_device("gpu") == ("gpu0", "cuda:0")
    assert jax_backend._jax_device("tpu") == ("tpu0", "tpu:0")
    with pytest.raises(DeviceUnavailableError, match="JAX sees 1 tpu device"):
        jax_backend._jax_device("tpu:1")


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_weights_and_batches_live_on_the_chosen_device(backend: str) -> None:
    require_backend(backend)
    with hn.config.use_backend(backend, device="cpu"):
        assert hn.config.device() == "cpu"
        model = hn.Sequential([hn.Input((3,)), hn.layers.Dense(2)])
        native = load_backend(backend, "cpu")
        assert all(native.is_array(w.value) for w in model.weights)
        if backend == "torch":
            assert {w.value.device.type for w in model.weights} == {"cpu"}
        else:
            assert {next(iter(w.value.devices())).platform for w in model.weights} == {"cpu"}
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
        assert all(native.is_array(w.value) for w in model.weights)


def test_set_device_from_code() -> None:
    require_backend("torch")
    with hn.config.use_backend("torch"):
        hn.config.set_device("cpu")
        assert hn.config.device() == "cpu"
        with pytest.raises(DeviceUnavailableError):
            hn.config.set_device("cuda:7")
        assert hn.config.device() == "cpu"  # a failed switch leaves the device as it was


def test_mixing_backends_is_a_clear_error() -> None:
    require_backend("torch")
    numpy_tensor = hn.tensor(np.ones(2))
    with (
        hn.config.use_backend("torch"),
        pytest.raises(
            RuntimeError,
            match=r"add: an operand lives on the numpy backend \(cpu\) but the active backend is torch \(cpu\)",
        ),
    ):
        numpy_tensor + hn.tensor(np.ones(2))
