"""hn.distribution's objects and argument checks, and the NumPy backend's one device (where DataParallel is a
no-op and more devices or processes are a one-line error naming the fix)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest

import highnn as hn
from highnn.backends import DeviceUnavailableError
from highnn.distribution import DataParallel, DeviceMesh, LayoutMap, ModelParallel, TensorLayout

FIX = re.escape("use HIGHNN_BACKEND=torch (gloo) or HIGHNN_BACKEND=jax")


@pytest.fixture(autouse=True)
def _numpy() -> Iterator[None]:
    with hn.config.use_backend("numpy", floatx="float64"):
        yield
    hn.distribution.set_distribution(None)


def test_numpy_lists_one_cpu_device() -> None:
    assert hn.distribution.list_devices() == ["cpu:0"]
    assert hn.distribution.list_devices("CPU") == ["cpu:0"]
    assert hn.distribution.list_devices("gpu") == []
    assert hn.distribution.get_device_count() == 1
    with pytest.raises(ValueError, match=r"list_devices: `device_type` must be None or one of .*received 'npu'"):
        hn.distribution.list_devices("npu")


def test_numpy_refuses_more_devices_and_processes_naming_the_fix() -> None:
    with pytest.raises(DeviceUnavailableError, match=rf"only the devices \['cpu:0'\], not 'cpu:1': {FIX}"):
        DataParallel(devices=["cpu:0", "cpu:1"])
    with pytest.raises(RuntimeError, match=rf"The numpy backend runs in one process: {FIX}"):
        hn.distribution.initialize()


def _fit(distributed: bool) -> tuple[dict[str, list[float]], list[np.ndarray], np.ndarray]:
    hn.utils.set_random_seed(2)
    x = np.random.default_rng(0).normal(size=(21, 4))
    model = hn.Sequential([hn.Input((4,)), hn.layers.Dense(3), hn.layers.Dropout(0.5, seed=1), hn.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    if distributed:
        hn.distribution.set_distribution(DataParallel())
    history = model.fit(x, x[:, :1], batch_size=4, epochs=2, verbose=0)
    return history.history, model.get_weights(), model.predict(x, verbose=0)


def test_data_parallel_over_the_one_numpy_device_changes_nothing() -> None:
    plain, distributed = _fit(False), _fit(True)
    assert hn.distribution.distribution() is not None
    assert plain[0] == distributed[0]
    for a, b in zip(plain[1] + [plain[2]], distributed[1] + [distributed[2]], strict=True):
        np.testing.assert_array_equal(a, b)


def test_device_mesh_and_layout_checks() -> None:
    mesh = DeviceMesh((1,), ["batch"], ["cpu:0"])
    assert mesh.shape == (1,) and mesh.axis_names == ("batch",) and mesh.devices.tolist() == ["cpu:0"]
    with pytest.raises(ValueError, match=r"DeviceMesh: `shape` must be a non-empty tuple of integers >= 1"):
        DeviceMesh((0,), ["batch"])
    with pytest.raises(ValueError, match=r"DeviceMesh: `axis_names` must be one name per axis of `shape` \(1, 1\)"):
        DeviceMesh((1, 1), ["batch"])
    with pytest.raises(ValueError, match=r"DeviceMesh: `devices` must be 2 devices for the shape \(2,\)"):
        DeviceMesh((2,), ["batch"], ["cpu:0"])
    with pytest.raises(ValueError, match=r"TensorLayout: `axes` must be names of the mesh's axes \['batch'\]"):
        TensorLayout(("model",), mesh)
    layout = TensorLayout((None, "batch"))
    layout.device_mesh = mesh
    with pytest.raises(ValueError, match="already set"):
        layout.device_mesh = mesh
    with pytest.raises(TypeError, match=r"DataParallel: `device_mesh` must be a DeviceMesh, received 'cpu:0' of type"):
        DataParallel(device_mesh="cpu:0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Distribution: `batch_dim_name` must be one of the mesh's axes"):
        hn.distribution.Distribution(mesh, "rows")


def test_data_layout_splits_rows_only_when_they_divide() -> None:
    mesh = DeviceMesh((1,), ["batch"], ["cpu:0"])
    distribution = DataParallel(device_mesh=mesh)
    assert distribution.get_data_layout((32, 5)).axes == ("batch", None)
    assert distribution.get_variable_layout(hn.Variable(np.zeros((2, 3)), name="w")).axes == (None, None)


def test_layout_map_matches_paths_and_optimizer_slots() -> None:
    mesh = DeviceMesh((1, 1), ["batch", "model"], ["cpu:0"])
    layout_map = LayoutMap(mesh)
    layout_map["dense/kernel"] = (None, "model")
    layout_map["dense.*bias"] = TensorLayout(("model",))
    assert layout_map["dense/kernel"].axes == (None, "model")
    assert layout_map["adam/dense_kernel_momentum"].axes == (None, "model")  # a slot takes its variable's layout
    assert layout_map["dense/bias"].device_mesh is mesh
    with pytest.raises(KeyError):
        layout_map["head/kernel"]
    with pytest.raises(ValueError, match="already has a layout"):
        layout_map["dense/kernel"] = (None, None)
    layout_map["dense.*"] = (None, None)
    with pytest.raises(ValueError, match=r"the path 'dense/bias' matches several keys"):
        layout_map["dense/bias"]
    distribution = ModelParallel(layout_map=layout_map)
    assert distribution.batch_dim_name == "batch"
    with pytest.raises(ValueError, match=r"ModelParallel: the layout \(None, 'model'\) of 'dense/kernel' does not fit"):
        distribution.get_variable_layout(hn.Variable(np.zeros(3), name="kernel", path="dense/kernel"))


def test_scope_sets_the_distribution_for_a_block() -> None:
    distribution = DataParallel()
    with distribution.scope() as active:
        assert hn.distribution.distribution() is active is distribution
    assert hn.distribution.distribution() is None
    with pytest.raises(TypeError, match=r"set_distribution: `value` must be a Distribution or None"):
        hn.distribution.set_distribution("data")  # type: ignore[arg-type]


def test_distribute_tensor_keeps_the_kind_it_was_given() -> None:
    layout = TensorLayout((None,), DeviceMesh((1,), ["batch"], ["cpu:0"]))
    tensor = hn.distribution.distribute_tensor(hn.tensor([1.0, 2.0]), layout)
    assert isinstance(tensor, hn.Tensor) and tensor.numpy().tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"distribute_tensor: `layout` must be a layout of 2 axes"):
        hn.distribution.distribute_tensor(np.ones((2, 2)), layout)


def test_initialize_checks_its_arguments_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"initialize: `process_id` must be an integer in \[0, 1\], received 2"):
        hn.distribution.initialize("127.0.0.1:1234", num_processes=2, process_id=2)
    with pytest.raises(ValueError, match=r"initialize: `num_processes` must be an integer >= 1, received 0"):
        hn.distribution.initialize(num_processes=0)
    monkeypatch.setenv("HIGHNN_DISTRIBUTION_PROCESS_ID", "one")
    with pytest.raises(ValueError, match=r"`process_id` must be an integer \(from HIGHNN_DISTRIBUTION_PROCESS_ID\)"):
        hn.distribution.initialize()
