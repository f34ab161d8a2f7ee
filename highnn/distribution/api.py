"""Devices, meshes, layouts and distributions, with the names of Keras 3's ``keras.distribution``.

A distribution says where arrays live and which devices compute; it never
changes what is computed. Under :class:`DataParallel` every batch is split
over the devices along its first axis while the variables are replicated, and
``fit`` gives the weights, History, ``evaluate`` and ``predict`` of one device
fed the same global batches (``batch_size`` is the global batch)::

    hn.distribution.set_distribution(hn.distribution.DataParallel())
    model.fit(x, y, batch_size=256)   # 256 rows per step, over all devices

Everything backend-specific is reached through the active backend's
distribution functions (``list_devices``, ``initialize``, ``place``, ...; see
``highnn.backends.base``): on NumPy there is one CPU device and one process.
This module imports only the configuration, the argument checks and the graph,
so the tracer and the trainer can read the active distribution.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from highnn.checks import check_integer, fail, is_integer
from highnn.config import settings
from highnn.graph import Tensor
from highnn.variables import Variable

DEFAULT_BATCH_DIM_NAME = "batch"
DEVICE_TYPES = ("cpu", "gpu", "cuda", "tpu", "mps")
#: environment variables a launcher may set instead of passing initialize()'s arguments
ENVIRONMENT = {
    "job_addresses": "HIGHNN_DISTRIBUTION_JOB_ADDRESSES",
    "num_processes": "HIGHNN_DISTRIBUTION_NUM_PROCESSES",
    "process_id": "HIGHNN_DISTRIBUTION_PROCESS_ID",
}


# ------------------------------------------------------------------ devices and processes
def list_devices(device_type: str | None = None) -> list[str]:
    """Every device of the job, all processes' ones, named ``kind:index`` (``["cpu:0"]`` on NumPy).

    ``device_type``: ``"cpu"``, ``"gpu"`` (``"cuda"``), ``"tpu"`` or ``"mps"``; None: the backend's default kind.
    """
    if device_type is not None:
        if not isinstance(device_type, str) or device_type.lower() not in DEVICE_TYPES:
            fail("list_devices", "device_type", f"None or one of {DEVICE_TYPES}", device_type)
        device_type = "cuda" if device_type.lower() == "gpu" else device_type.lower()
    return settings.backend.list_devices(device_type)


def get_device_count(device_type: str | None = None) -> int:
    """How many devices :func:`list_devices` lists."""
    return len(list_devices(device_type))


def initialize(
    job_addresses: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-process job; call it in every process before creating any tensor or model.

    ``job_addresses``: comma-separated ``host:port`` of the processes (JAX needs only the first, the coordinator's);
    ``num_processes`` and ``process_id`` (``0 .. num_processes - 1``). Each one left None is read from
    ``HIGHNN_DISTRIBUTION_JOB_ADDRESSES``, ``..._NUM_PROCESSES`` or ``..._PROCESS_ID``, else the launcher's
    environment decides (torchrun's variables, JAX's SLURM, Open MPI or TPU detection).
    """
    job_addresses = job_addresses if job_addresses is not None else os.environ.get(ENVIRONMENT["job_addresses"])
    num_processes = num_processes if num_processes is not None else _environment_integer("num_processes")
    process_id = process_id if process_id is not None else _environment_integer("process_id")
    if job_addresses is not None and (not isinstance(job_addresses, str) or not job_addresses.strip()):
        fail("initialize", "job_addresses", "a string of comma-separated host:port addresses", job_addresses)
    if num_processes is not None:
        num_processes = check_integer("initialize", "num_processes", num_processes, 1)
    if process_id is not None:
        process_id = check_integer(
            "initialize", "process_id", process_id, 0, math.inf if num_processes is None else num_processes - 1
        )
    settings.backend.initialize(job_addresses, num_processes, process_id)


def _environment_integer(argument: str) -> int | None:
    value = os.environ.get(ENVIRONMENT[argument])
    if value is None:
        return None
    if not value.strip().isdigit():
        fail("initialize", argument, f"an integer (from {ENVIRONMENT[argument]})", value)
    return int(value)


# ------------------------------------------------------------------ meshes and layouts
class DeviceMesh:
    """A grid of devices with a name per axis: ``DeviceMesh((2, 2), ["batch", "model"])``.

    ``devices``: device names from :func:`list_devices` (default: all of them), as many as the grid holds.
    """

    def __init__(self, shape: Sequence[int], axis_names: Sequence[str], devices: Sequence[str] | None = None) -> None:
        if not isinstance(shape, (tuple, list)) or not shape or not all(is_integer(n) and n >= 1 for n in shape):
            fail("DeviceMesh", "shape", "a non-empty tuple of integers >= 1", shape)
        if (
            not isinstance(axis_names, (tuple, list))
            or not all(isinstance(name, str) and name for name in axis_names)
            or len(set(axis_names)) != len(axis_names)
        ):
            fail("DeviceMesh", "axis_names", "a list of distinct, non-empty strings", axis_names)
        if len(axis_names) != len(shape):
            fail("DeviceMesh", "axis_names", f"one name per axis of `shape` {tuple(shape)}", axis_names)
        if devices is None:
            devices = list_devices()
        if isinstance(devices, str) or not all(isinstance(d, str) for d in np.ravel(np.asarray(devices, object))):
            fail("DeviceMesh", "devices", "a list of device names such as 'cpu:0'", devices, TypeError)
        names = [str(d) for d in np.ravel(np.asarray(devices, object))]
        if len(names) != math.prod(shape):
            fail("DeviceMesh", "devices", f"{math.prod(shape)} devices for the shape {tuple(shape)}", devices)
        if len(set(names)) != len(names):
            fail("DeviceMesh", "devices", "distinct devices", devices)
        settings.backend.check_devices(names)
        self._shape = tuple(int(n) for n in shape)
        self._axis_names = tuple(axis_names)
        self._devices = np.array(names, dtype=object).reshape(self._shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def axis_names(self) -> tuple[str, ...]:
        return self._axis_names

    @property
    def devices(self) -> np.ndarray:
        """The device names, in the mesh's shape."""
        return self._devices

    def axis_size(self, name: str) -> int:
        return self._shape[self._axis_names.index(name)]

    def __repr__(self) -> str:
        return f"<DeviceMesh shape={self._shape}, axis_names={list(self._axis_names)}>"


class TensorLayout:
    """Per axis of a tensor, the mesh axis it is split over, or None (whole on every device): ``(None, "model")``.

    ``device_mesh`` may be given later (a :class:`LayoutMap` gives its own), once.
    """

    def __init__(self, axes: Sequence[str | None], device_mesh: DeviceMesh | None = None) -> None:
        if isinstance(axes, str) or not isinstance(axes, (tuple, list)):
            fail("TensorLayout", "axes", "a tuple of mesh axis names or None", axes, TypeError)
        if not all(axis is None or isinstance(axis, str) for axis in axes):
            fail("TensorLayout", "axes", "a tuple of mesh axis names or None", axes)
        named = [axis for axis in axes if axis is not None]
        if len(set(named)) != len(named):
            fail("TensorLayout", "axes", "a tuple naming each mesh axis at most once", axes)
        self._axes = tuple(axes)
        self._device_mesh: DeviceMesh | None = None
        if device_mesh is not None:
            self.device_mesh = device_mesh

    @property
    def axes(self) -> tuple[str | None, ...]:
        return self._axes

    @property
    def device_mesh(self) -> DeviceMesh | None:
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh: DeviceMesh) -> None:
        if self._device_mesh is not None:
            raise ValueError("TensorLayout: `device_mesh` is already set; a layout belongs to one mesh.")
        if not isinstance(device_mesh, DeviceMesh):
            fail("TensorLayout", "device_mesh", "a DeviceMesh", device_mesh, TypeError)
        unknown = [axis for axis in self._axes if axis is not None and axis not in device_mesh.axis_names]
        if unknown:
            fail("TensorLayout", "axes", f"names of the mesh's axes {list(device_mesh.axis_names)} or None", self._axes)
        self._device_mesh = device_mesh

    def __repr__(self) -> str:
        return f"<TensorLayout axes={self._axes}, device_mesh={self._device_mesh!r}>"


def replicated(rank: int, device_mesh: DeviceMesh) -> TensorLayout:
    """The layout of a tensor of ``rank`` axes held whole on every device of the mesh (``rank`` 0: of any rank, as
    a layout leaves the axes after its own whole)."""
    return TensorLayout((None,) * rank, device_mesh)


class LayoutMap(MutableMapping[str, TensorLayout]):
    """Variable paths to layouts: ``layout_map["dense.*kernel"] = (None, "model")``.

    A key is a regular expression searched in a variable's path (``"dense_1/kernel"``); an exact key wins, and
    a path that two keys match is an error. An optimizer slot (``"adam/dense_1_kernel_momentum"``) takes its
    variable's layout: keys are also tried with ``/`` spelled ``_``, as slot paths spell their variable's path.
    """

    def __init__(self, device_mesh: DeviceMesh) -> None:
        if not isinstance(device_mesh, DeviceMesh):
            fail("LayoutMap", "device_mesh", "a DeviceMesh", device_mesh, TypeError)
        self._device_mesh = device_mesh
        self._layouts: dict[str, TensorLayout] = {}

    @property
    def device_mesh(self) -> DeviceMesh:
        return self._device_mesh

    def __getitem__(self, path: str) -> TensorLayout:
        """The layout of the variable at ``path``; KeyError when no key matches."""
        if path in self._layouts:
            return self._layouts[path]
        for spell in (lambda key: key, lambda key: key.replace("/", "_")):
            matches = [key for key in self._layouts if re.search(spell(key), path)]
            if len(matches) > 1:
                raise ValueError(f"LayoutMap: the path {path!r} matches several keys {matches}; make them distinct.")
            if matches:
                return self._layouts[matches[0]]
        raise KeyError(path)

    def __setitem__(self, key: str, layout: TensorLayout | Sequence[str | None]) -> None:
        if not isinstance(key, str):
            fail("LayoutMap", "key", "a string (a regular expression over variable paths)", key, TypeError)
        if key in self._layouts:
            raise ValueError(f"LayoutMap: the key {key!r} already has a layout {self._layouts[key].axes}.")
        if not isinstance(layout, TensorLayout):
            layout = TensorLayout(tuple(layout) if isinstance(layout, list) else layout)
        if layout.device_mesh is None:
            layout.device_mesh = self._device_mesh
        elif layout.device_mesh is not self._device_mesh:
            fail("LayoutMap", key, "a layout over the map's device mesh", layout)
        self._layouts[key] = layout

    def __delitem__(self, key: str) -> None:
        del self._layouts[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._layouts)

    def __len__(self) -> int:
        return len(self._layouts)


# ------------------------------------------------------------------ distributions
class Distribution:
    """Where batches and variables live: a device mesh, and the mesh axis that splits the batch."""

    def __init__(self, device_mesh: DeviceMesh, batch_dim_name: str | None = None) -> None:
        if not isinstance(device_mesh, DeviceMesh):
            fail(type(self).__name__, "device_mesh", "a DeviceMesh", device_mesh, TypeError)
        batch_dim_name = device_mesh.axis_names[0] if batch_dim_name is None else batch_dim_name
        if batch_dim_name not in device_mesh.axis_names:
            fail(type(self).__name__, "batch_dim_name", f"one of the mesh's axes {list(device_mesh.axis_names)}",
                 batch_dim_name)  # fmt: skip
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name

    @property
    def device_mesh(self) -> DeviceMesh:
        return self._device_mesh

    @property
    def batch_dim_name(self) -> str:
        return self._batch_dim_name

    def get_data_layout(self, data_shape: Sequence[int]) -> TensorLayout:
        """A batch's layout: its first axis split over the batch axis, or whole on every device when its rows do
        not divide evenly (an uneven last batch stays exact)."""
        rank = len(data_shape)
        if rank == 0 or data_shape[0] % self._device_mesh.axis_size(self._batch_dim_name):
            return replicated(rank, self._device_mesh)
        return TensorLayout((self._batch_dim_name,) + (None,) * (rank - 1), self._device_mesh)

    def get_variable_layout(self, variable: Variable) -> TensorLayout:
        """A variable's layout (whole on every device unless a subclass says otherwise)."""
        return replicated(len(variable.shape), self._device_mesh)

    def get_tensor_layout(self, path: str) -> TensorLayout | None:
        """The layout of an intermediate tensor at ``path`` (None: the compiler chooses)."""
        return None

    @contextmanager
    def scope(self) -> Iterator[Distribution]:
        """Make this the distribution inside a ``with`` block, then restore the one before."""
        previous = _current
        set_distribution(self)
        try:
            yield self
        finally:
            set_distribution(previous)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} device_mesh={self._device_mesh!r}, batch_dim_name={self._batch_dim_name!r}>"


class DataParallel(Distribution):
    """Every batch split along its first axis over the devices; every variable whole on each of them.

    ``device_mesh``: a 1-D mesh (its axis splits the batch); else ``devices`` (names; default all of
    :func:`list_devices`) make a mesh with the axis ``"batch"``.
    """

    def __init__(self, device_mesh: DeviceMesh | None = None, devices: Sequence[str] | None = None) -> None:
        if device_mesh is not None and devices is not None:
            fail("DataParallel", "devices", "None when `device_mesh` is given", devices)
        if device_mesh is None:
            devices = list_devices() if devices is None else devices
            if isinstance(devices, str) or not isinstance(devices, (list, tuple)) or not devices:
                fail("DataParallel", "devices", "a non-empty list of device names such as 'cpu:0'", devices)
            device_mesh = DeviceMesh((len(devices),), [DEFAULT_BATCH_DIM_NAME], devices)
        elif isinstance(device_mesh, DeviceMesh) and len(device_mesh.shape) != 1:
            fail("DataParallel", "device_mesh", "a 1-D DeviceMesh (use ModelParallel for more axes)", device_mesh)
        super().__init__(device_mesh)


class ModelParallel(Distribution):
    """Variables laid out by a :class:`LayoutMap` (whole on every device where no key matches); batches split on
    ``batch_dim_name`` (default: the mesh's first axis)."""

    def __init__(self, *, layout_map: LayoutMap, batch_dim_name: str | None = None) -> None:
        if not isinstance(layout_map, LayoutMap):
            fail("ModelParallel", "layout_map", "a LayoutMap", layout_map, TypeError)
        super().__init__(layout_map.device_mesh, batch_dim_name)
        self._layout_map = layout_map

    @property
    def layout_map(self) -> LayoutMap:
        return self._layout_map

    def get_variable_layout(self, variable: Variable) -> TensorLayout:
        try:
            layout = self._layout_map[variable.path]
        except KeyError:
            return super().get_variable_layout(variable)
        if len(layout.axes) != len(variable.shape):
            raise ValueError(
                f"ModelParallel: the layout {layout.axes} of {variable.path!r} does not fit its shape {variable.shape}."
            )
        return layout


# ------------------------------------------------------------------ the active distribution
_current: Distribution | None = None


def distribution() -> Distribution | None:
    """The active distribution, or None."""
    return _current


def set_distribution(value: Distribution | None) -> None:
    """Make ``value`` the distribution of every later step (None: back to the backend's one device)."""
    global _current
    if value is not None and not isinstance(value, Distribution):
        fail("set_distribution", "value", "a Distribution or None", value, TypeError)
    _current = value
    settings.backend.set_default_layout(None if value is None else replicated(0, value.device_mesh))


def distribute_tensor(tensor: Any, layout: TensorLayout) -> Any:
    """``tensor`` (a Tensor or an array) laid out by ``layout``; a Tensor gives a Tensor."""
    if not isinstance(layout, TensorLayout) or layout.device_mesh is None:
        fail("distribute_tensor", "layout", "a TensorLayout with a device mesh", layout, TypeError)
    value = tensor.value if isinstance(tensor, Tensor) else tensor
    if len(layout.axes) != np.ndim(value):
        fail("distribute_tensor", "layout", f"a layout of {np.ndim(value)} axes for a tensor of that rank", layout)
    placed = settings.backend.place(value, layout)
    return Tensor(placed) if isinstance(tensor, Tensor) else placed


def place_variables(variables: Iterable[Variable]) -> None:
    """Move every variable that is not laid out as the active distribution says (a no-op without one)."""
    if _current is None:
        return
    backend = settings.backend
    for variable in variables:
        variable.value = backend.place(variable.value, _current.get_variable_layout(variable))
