"""Saving and loading models and weights, safely.

Two formats:

- ``model.save("model.highnn")`` writes a zip archive holding ``config.json``
  (format version, highnn version, the model's class name and config, its
  input shape and compile config), ``model.weights.safetensors`` (every weight
  under its path, in ``model.weights`` order) and, for a compiled model,
  ``optimizer.safetensors`` (the optimizer's step count, learning rate and
  slots). ``highnn.models.load_model`` rebuilds the model from it.
- ``model.save_weights("model.weights.safetensors")`` writes the weights alone
  as one safetensors file; ``model.load_weights`` reads them back by position.

Every write is atomic (a temporary file in the same folder, fsync, then
``os.replace``), so a crash leaves the previous file whole. Loading trusts
nothing in the file: the archive is read in memory and never extracted,
member names are compared with a fixed list and never used as paths, sizes
are checked against limits before anything is read or allocated, safetensors
headers are validated here before the library sees them, and classes are
looked up in highnn's allow-list registries only (plus ``custom_objects``
the caller passes); nothing is imported, unpickled or evaluated. A file that
fails a check raises :class:`SavedFileError` and changes nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import secrets
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any, TypeGuard

import numpy as np

import highnn
from highnn import losses, metrics, optimizers
from highnn.layers import LAYER_CLASSES
from highnn.layers.layer import Layer
from highnn.registry import lookup
from highnn.variables import Variable

if TYPE_CHECKING:
    from highnn.models import Model

FORMAT_VERSION = 1
MODEL_SUFFIX = ".highnn"
WEIGHTS_SUFFIX = ".weights.safetensors"
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.safetensors"
OPTIMIZER_MEMBER = "optimizer.safetensors"
TRAINING_STATE_MEMBER = "training_state.json"
#: the only names an archive may hold; anything else is rejected, never read or written
MEMBERS = (CONFIG_MEMBER, WEIGHTS_MEMBER, OPTIMIZER_MEMBER, TRAINING_STATE_MEMBER)
METADATA_KEY = "highnn"  # the safetensors metadata entry holding {"format", "format_version", "order"}
WEIGHTS_FORMAT = "highnn.weights"
OPTIMIZER_FORMAT = "highnn.optimizer"

#: limits on what a file can make highnn read or allocate (lower them to load untrusted files on a small machine)
MAX_JSON_BYTES = 16 * 2**20
MAX_TENSOR_BYTES = 16 * 2**30
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own limit
MAX_RANK = 32

#: safetensors dtypes highnn reads, with their NumPy types (BF16 and F8 have none)
SAFETENSORS_DTYPES: dict[str, type[np.generic]] = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16, "F16": np.float16,
    "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64, "I64": np.int64, "F64": np.float64,
}  # fmt: skip
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: saving the same model twice gives the same bytes
_READABLE_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # deflate output is read in bounded chunks

NamedArrays = list[tuple[str, np.ndarray]]


class SavedFileError(ValueError):
    """A file that cannot be loaded: not highnn's format, truncated, inconsistent or hostile.

    It is raised before the model or anything on disk is changed.
    """


# ------------------------------------------------------------------ public API
def save_model(model: Model, filepath: str | os.PathLike[str], overwrite: bool = True, include_optimizer: bool = True,
               training_state: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write ``model`` to a ``.highnn`` archive (see the module docstring); ``model.save`` calls this.

    ``training_state`` (JSON-serialisable) is stored too; ``BackupAndRestore``
    keeps the epoch and random state there.
    """
    path = _checked_path(filepath, (MODEL_SUFFIX,), "save")
    _check_model(model, "save")
    config = _to_json(_model_config(model), "the model's config")
    members: list[tuple[str, Callable[[], bytes]]] = [
        (CONFIG_MEMBER, lambda: config),
        (WEIGHTS_MEMBER, lambda: encode_tensors(_variable_arrays(model.weights), WEIGHTS_FORMAT)),
    ]
    if include_optimizer and model.compiled:
        if model.built and not model.optimizer.built:
            model.optimizer.build(model.trainable_weights)  # slots exist, so a reload restores them one for one
        members.append(
            (OPTIMIZER_MEMBER, lambda: encode_tensors(_variable_arrays(model.optimizer.variables), OPTIMIZER_FORMAT))
        )
    if training_state is not None:
        state = _to_json(training_state, "the training state")
        members.append((TRAINING_STATE_MEMBER, lambda: state))
    atomic_write(path, lambda stream: _write_archive(stream, members), overwrite)


def load_model(
    filepath: str | os.PathLike[str], custom_objects: Mapping[str, Any] | None = None, compile: bool = True
) -> Model:
    """Rebuild a model saved with ``model.save``: architecture, weights and (compiled) optimizer state.

    Classes come from highnn's registries and from ``custom_objects``
    (``{"name": class or loss/metric function}``) only. With ``compile=False``
    the model is returned uncompiled.

    >>> model = hn.models.load_model("model.highnn")
    """
    path = _checked_path(filepath, (MODEL_SUFFIX,), "load_model")
    tables = _Registries(custom_objects)
    members = _read_archive(path)
    config = _parse_json(members[CONFIG_MEMBER], _member(path, CONFIG_MEMBER))
    weights, optimizer_state = _saved_states(members, path)  # every check passes before anything is built
    model = _model_from_config(config, tables, _member(path, CONFIG_MEMBER))
    compile_config = config.get("compile_config")
    if compile and compile_config is not None:
        _compile_from_config(model, compile_config, tables, _member(path, CONFIG_MEMBER))
    _restore(model, weights, optimizer_state, path)
    return model


def save_weights(model: Model, filepath: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Write the model's weights to a ``.weights.safetensors`` file; ``model.save_weights`` calls this."""
    path = _checked_path(filepath, (WEIGHTS_SUFFIX,), "save_weights")
    _check_model(model, "save_weights")
    atomic_write(
        path, lambda stream: stream.write(encode_tensors(_variable_arrays(model.weights), WEIGHTS_FORMAT)), overwrite
    )


def load_weights(model: Model, filepath: str | os.PathLike[str]) -> None:
    """Set the model's weights, by position, from a ``.weights.safetensors`` file or a ``.highnn`` archive.

    The file must hold as many weights as the model, each of the same shape.
    """
    path = _checked_path(filepath, (WEIGHTS_SUFFIX, MODEL_SUFFIX), "load_weights")
    _check_model(model, "load_weights")
    if path.endswith(MODEL_SUFFIX):
        weights, _ = _saved_states(_read_archive(path), path)
    else:
        weights = decode_tensors(_read_file(path, MAX_TENSOR_BYTES), repr(path), WEIGHTS_FORMAT)
    assign_variables([("weights", model.weights, weights)], repr(path))


def restore_training_state(
    model: Model, filepath: str | os.PathLike[str], check: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Load the weights and optimizer state of a ``.highnn`` archive into ``model`` and return its training state.

    ``check`` validates the training state (raising :class:`SavedFileError`)
    before the model is touched. Used by ``BackupAndRestore`` to resume the
    very model being trained.
    """
    path = _checked_path(filepath, (MODEL_SUFFIX,), "restore_training_state")
    members = _read_archive(path)
    if TRAINING_STATE_MEMBER not in members:
        raise SavedFileError(
            f"{path!r} holds no {TRAINING_STATE_MEMBER!r}: it is a saved model, not a training backup."
        )
    state = _parse_json(members[TRAINING_STATE_MEMBER], _member(path, TRAINING_STATE_MEMBER))
    check(state)
    weights, optimizer_state = _saved_states(members, path)
    _restore(model, weights, optimizer_state, path)
    return state


def _saved_states(members: dict[str, bytes], path: str) -> tuple[NamedArrays, NamedArrays | None]:
    """An archive's validated weights, and its optimizer state (None when it holds none)."""
    weights = decode_tensors(members[WEIGHTS_MEMBER], _member(path, WEIGHTS_MEMBER), WEIGHTS_FORMAT)
    if OPTIMIZER_MEMBER not in members:
        return weights, None
    return weights, decode_tensors(members[OPTIMIZER_MEMBER], _member(path, OPTIMIZER_MEMBER), OPTIMIZER_FORMAT)


# ------------------------------------------------------------- atomic writing
def atomic_write(filepath: str, write: Callable[[IO[bytes]], Any], overwrite: bool = True) -> None:
    """Write ``filepath`` so that it holds either its old content or the complete new one, never a mix.

    ``write`` fills a temporary file in the same folder, which is flushed to
    disk and renamed over ``filepath`` (``os.replace`` is atomic); if
    ``write`` raises, the temporary file is removed and ``filepath`` is untouched.
    """
    if os.path.isdir(filepath):
        raise IsADirectoryError(f"Cannot write {filepath!r}: it is an existing directory; give a file path.")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} already exists; pass overwrite=True to replace it.")
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot write {filepath!r}: the directory {directory!r} does not exist.")
    temporary = os.path.join(directory, f".{os.path.basename(filepath)}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, filepath)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if os.name == "posix":  # make the rename itself durable
        folder = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _write_archive(stream: IO[bytes], members: Sequence[tuple[str, Callable[[], bytes]]]) -> None:
    """Zip the members into ``stream``; each payload is produced only when it is written."""
    with zipfile.ZipFile(stream, "w") as archive:
        for name, produce in members:
            compression = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), produce(), compress_type=compression)


# ------------------------------------------------------------- bounded reading
def _read_file(path: str, limit: int) -> bytes:
    """The whole file, refused before reading if it is larger than ``limit``."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot load {path!r}: it is a directory, not a file.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No file found at {path!r}.")
    size = os.path.getsize(path)
    if size > limit:
        raise SavedFileError(f"{path!r} is {size} bytes, more than the limit of {limit} bytes.")
    with open(path, "rb") as stream:
        return stream.read(size)  # read(n) allocates n bytes up front: never pass it the limit


def _member(path: str, name: str) -> str:
    return f"{path!r} (member {name!r})"


def _read_archive(path: str) -> dict[str, bytes]:
    """The archive's members, read in memory after checking their names, sizes and compression."""
    data = _read_file(path, 2 * MAX_TENSOR_BYTES + 2 * MAX_JSON_BYTES + 2**20)
    if not data:
        raise SavedFileError(f"{path!r} is empty (0 bytes): not a highnn model file.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise SavedFileError(f"{path!r} is not a highnn model file: it is not a zip archive ({error}).") from error
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        unexpected = [name for name in names if name not in MEMBERS]
        if unexpected:
            raise SavedFileError(
                f"{path!r} holds unexpected members {unexpected}; a highnn archive holds only {list(MEMBERS)}. Nothing was read or extracted."
            )
        repeated = _repeated(names)
        if repeated:
            raise SavedFileError(f"{path!r} holds the member(s) {repeated} more than once.")
        missing = [name for name in (CONFIG_MEMBER, WEIGHTS_MEMBER) if name not in names]
        if missing:
            raise SavedFileError(f"{path!r} lacks the member(s) {missing}: truncated or not a highnn model file.")
        return {info.filename: _read_member(archive, info, path) for info in infos}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str) -> bytes:
    source = _member(path, info.filename)
    limit = MAX_JSON_BYTES if info.filename.endswith(".json") else MAX_TENSOR_BYTES
    if info.file_size > limit:
        raise SavedFileError(
            f"{source} declares {info.file_size} bytes, more than the limit of {limit} bytes (a zip bomb or a corrupt file); it was not read."
        )
    if info.compress_type not in _READABLE_COMPRESSIONS:
        raise SavedFileError(
            f"{source} uses zip compression method {info.compress_type}; highnn reads stored or deflated members only."
        )
    if info.flag_bits & 0x1:
        raise SavedFileError(f"{source} is encrypted; highnn archives are not.")
    try:
        with archive.open(info) as member:
            content = member.read(
                info.file_size + 1
            )  # zipfile stops at the declared size and checks the CRC at the end
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise SavedFileError(f"{source} cannot be read: {error}.") from error
    if len(content) != info.file_size:
        raise SavedFileError(f"{source} holds {len(content)} bytes but declares {info.file_size}: corrupt archive.")
    return content


def _parse_json(content: bytes, source: str) -> dict[str, Any]:
    try:
        value = json.loads(content.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SavedFileError(f"{source} is not valid JSON: {error}.") from error
    if not isinstance(value, dict):
        raise SavedFileError(f"{source} must hold a JSON object, found {type(value).__name__}.")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing repeated keys (two parsers could disagree on which one wins)."""
    repeated = _repeated([key for key, _ in pairs])
    if repeated:
        raise ValueError(f"repeated keys {repeated}")
    return dict(pairs)


def _repeated(names: Sequence[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _to_json(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value, indent=1).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"Cannot save {what}: it is not JSON-serialisable ({error}).") from error


# ------------------------------------------------------------------ safetensors
def _safetensors() -> ModuleType:
    """The safetensors package (with its NumPy API), imported when first needed: it is an optional dependency."""
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "Saving and loading need safetensors, which is not installed: pip install 'highnn[saving]'."
        ) from None
    return safetensors


def encode_tensors(named: NamedArrays, file_format: str) -> bytes:
    """Safetensors bytes for ``named`` arrays; their order is kept in the header's metadata."""
    names = [name for name, _ in named]
    repeated = _repeated(names)
    if repeated:
        raise ValueError(f"Cannot save: several weights share the path(s) {repeated}; give the layers unique names.")
    # one metadata entry: safetensors keeps metadata in a hash map, so several would be written in random order
    metadata = {METADATA_KEY: json.dumps({"format": file_format, "format_version": FORMAT_VERSION, "order": names})}
    return _safetensors().numpy.save({name: np.array(array, order="C") for name, array in named}, metadata=metadata)


def decode_tensors(data: bytes, source: str, file_format: str) -> NamedArrays:
    """The arrays of a safetensors file, in saved order, after validating its header.

    The header is checked here (length, JSON, dtypes, shapes, offsets) so the
    library is only ever handed a file whose every tensor fits its data.
    """
    metadata, shapes = validate_safetensors_header(data, source)
    order = _saved_order(metadata, set(shapes), source, file_format)
    library = _safetensors()
    try:
        tensors = library.numpy.load(bytes(data))
    except (library.SafetensorError, ValueError, TypeError) as error:
        raise SavedFileError(f"{source}: the safetensors library rejected the file: {error}.") from error
    if set(tensors) != set(shapes) or any(tensors[name].shape != shapes[name] for name in shapes):
        raise SavedFileError(f"{source}: the safetensors library read tensors that differ from the header.")
    return [(name, np.array(tensors[name])) for name in order]


def validate_safetensors_header(data: bytes, source: str) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The header's metadata and each tensor's shape, or a SavedFileError saying what is wrong.

    Checks: the 8-byte little-endian header length is bounded and inside the
    file; the header is a JSON object; each tensor has exactly ``dtype``,
    ``shape`` and ``data_offsets``; the dtype is in :data:`SAFETENSORS_DTYPES`;
    the shape is at most :data:`MAX_RANK` non-negative ints whose product
    times the item size (in exact integers, so it cannot wrap around) equals
    the offsets' span; and the spans tile the data buffer exactly.
    """
    if len(data) < 8:
        raise SavedFileError(
            f"{source} is {len(data)} bytes, too short for a safetensors file (8-byte header length first)."
        )
    header_length = int.from_bytes(data[:8], "little")
    if header_length > min(MAX_HEADER_BYTES, len(data) - 8):
        raise SavedFileError(f"{source}: the safetensors header length {header_length} exceeds the {len(data) - 8} bytes that follow it "
                             f"or the limit of {MAX_HEADER_BYTES}: truncated or not a safetensors file.")  # fmt: skip
    header = _parse_json(data[8 : 8 + header_length], f"{source} safetensors header")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SavedFileError(f"{source}: the safetensors __metadata__ must map strings to strings.")
    buffer_size = len(data) - 8 - header_length
    shapes: dict[str, tuple[int, ...]] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        where = f"{source}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SavedFileError(
                f"{where} must be an object with exactly dtype, shape and data_offsets, found {entry!r:.200}."
            )
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise SavedFileError(
                f"{where} has dtype {dtype!r:.50}; supported dtypes are {', '.join(SAFETENSORS_DTYPES)}."
            )
        if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(_is_count(n) for n in shape):
            raise SavedFileError(
                f"{where} has shape {shape!r:.200}; a shape is a list of at most {MAX_RANK} non-negative integers."
            )
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets):
            raise SavedFileError(
                f"{where} has data_offsets {offsets!r:.200}; expected [begin, end] as non-negative integers."
            )
        begin, end = offsets
        if not begin <= end <= buffer_size:
            raise SavedFileError(
                f"{where} has data_offsets [{begin}, {end}] outside the {buffer_size}-byte data buffer: truncated or corrupt file."
            )
        needed = math.prod(shape) * np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
        if needed != end - begin:
            raise SavedFileError(
                f"{where}: shape {shape} of {dtype} needs {needed} bytes, but its data_offsets span {end - begin} bytes."
            )
        shapes[name] = tuple(shape)
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise SavedFileError(
                f"{source}: tensor {name!r} starts at byte {begin}, expected {position} (overlapping or missing data)."
            )
        position = end
    if position != buffer_size:
        raise SavedFileError(f"{source}: the tensors cover {position} of the {buffer_size} data bytes.")
    return metadata, shapes


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _saved_order(metadata: dict[str, str], names: set[str], source: str, file_format: str) -> list[str]:
    """The tensors' saved order, from the metadata entry highnn writes."""
    try:
        description = json.loads(metadata[METADATA_KEY], object_pairs_hook=_unique_keys)
    except (KeyError, ValueError, RecursionError):
        description = None
    if not isinstance(description, dict) or description.get("format") != file_format:
        raise SavedFileError(
            f"{source} is not a {file_format} file written by highnn: its metadata lacks a valid {METADATA_KEY!r} entry."
        )
    version, order = description.get("format_version"), description.get("order")
    if not _is_count(version) or version > FORMAT_VERSION:
        raise SavedFileError(
            f"{source} has format version {version!r:.50}; this highnn reads versions up to {FORMAT_VERSION}: upgrade highnn."
        )
    if (
        not isinstance(order, list)
        or not all(isinstance(name, str) for name in order)
        or len(order) != len(names)
        or set(order) != names
    ):
        raise SavedFileError(
            f"{source}: the weight order in the metadata does not list each tensor of the file exactly once."
        )
    return order


# ------------------------------------------------------------------ variables
def _variable_arrays(variables: Sequence[Variable]) -> NamedArrays:
    return [(variable.path, variable.numpy()) for variable in variables]


def assign_variables(groups: Sequence[tuple[str, Sequence[Variable], NamedArrays]], source: str) -> None:
    """Give each variable the saved array at its position, after checking every group's count and shapes (all or nothing).

    ``groups`` holds ``(what, variables, saved arrays)``, ``what`` naming them in errors.
    """
    for what, variables, saved in groups:
        if len(saved) != len(variables):
            raise ValueError(f"{source} holds {len(saved)} {what} but the model has {len(variables)}: "
                             f"saved {[name for name, _ in saved]}, model {[v.path for v in variables]}.")  # fmt: skip
        for position, (variable, (name, array)) in enumerate(zip(variables, saved, strict=True)):
            if array.shape != variable.shape:
                raise ValueError(f"{source}: {what} {position} ({name!r} in the file, {variable.path!r} in the model) has shape "
                                 f"{array.shape} in the file but {variable.shape} in the model.")  # fmt: skip
    for _, variables, saved in groups:
        for variable, (_, array) in zip(variables, saved, strict=True):
            variable.assign(array)


def _restore(model: Model, weights: NamedArrays, optimizer_state: NamedArrays | None, path: str) -> None:
    """Assign the weights and, if the model is compiled and the file has it, the optimizer state."""
    groups = [("weights", model.weights, weights)]
    if optimizer_state is not None and model.compiled:
        if model.built and not model.optimizer.built:
            model.optimizer.build(model.trainable_weights)  # creates the slots the saved state fills
        groups.append(("optimizer variables", model.optimizer.variables, optimizer_state))
    assign_variables(groups, repr(path))


def _check_model(model: Any, action: str) -> None:
    from highnn.models import Model

    if not isinstance(model, Model):
        raise TypeError(f"{action}: `model` must be a highnn Model, received {model!r} of type {type(model).__name__}.")


def _checked_path(filepath: Any, suffixes: tuple[str, ...], action: str) -> str:
    if not isinstance(filepath, (str, os.PathLike)) or not isinstance(os.fspath(filepath), str):
        raise TypeError(
            f"{action}: `filepath` must be a str or os.PathLike, received {filepath!r} of type {type(filepath).__name__}."
        )
    path = os.fspath(filepath)
    if not path.endswith(suffixes):
        expected = " or ".join(f"`{suffix}`" for suffix in suffixes)
        raise ValueError(f"{action}: `filepath` must end in {expected}, received {path!r}.")
    return path


# ---------------------------------------------------------------------- config
def _model_config(model: Model) -> dict[str, Any]:
    input_shape = getattr(model, "build_input_shape", None)
    return {
        "format_version": FORMAT_VERSION,
        "highnn_version": highnn.__version__,
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "build_config": {"input_shape": list(input_shape)} if input_shape is not None else None,
        "compile_config": _compile_config(model) if model.compiled else None,
    }


def _compile_config(model: Model) -> dict[str, Any]:
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": _serialize_function_object(model.loss, losses.LossFunctionWrapper) if model.loss is not None else None,
        "metrics": [
            entry if isinstance(entry, str) else _serialize_function_object(entry, metrics.MeanMetricWrapper)
            for entry in model._metric_entries
        ],  # fmt: skip
        "run_eagerly": model.run_eagerly,
        "steps_per_execution": model.steps_per_execution,
        "jit_compile": model.jit_compile,
    }


def _serialize_function_object(obj: Any, wrapper: type) -> dict[str, Any]:
    """A loss or metric as ``{"class_name", "config"}``.

    One wrapping a user's function (its config names no ``fn``) is saved
    under the function's name, which ``custom_objects`` maps back on loading.
    """
    config = obj.get_config()
    wraps_custom_function = type(obj) is wrapper and "fn" not in config
    return {"class_name": obj.fn.__name__ if wraps_custom_function else type(obj).__name__, "config": config}


class _Registries:
    """The allow-list of classes a file may name: highnn's registries plus the caller's ``custom_objects``."""

    def __init__(self, custom_objects: Mapping[str, Any] | None) -> None:
        from highnn.models import Model, Sequential

        custom = dict(custom_objects or {})
        if not all(isinstance(key, str) and callable(obj) for key, obj in custom.items()):
            raise TypeError(f"`custom_objects` must map names (str) to classes or functions, received {custom!r:.300}.")

        def subclasses(base: type) -> dict[str, Any]:
            return {name: obj for name, obj in custom.items() if isinstance(obj, type) and issubclass(obj, base)}

        functions = {name: obj for name, obj in custom.items() if callable(obj) and not isinstance(obj, type)}
        self.models: dict[str, Any] = {"Sequential": Sequential, **subclasses(Model)}
        self.layers: dict[str, Any] = {**LAYER_CLASSES, **subclasses(Layer)}
        self.optimizers: dict[str, Any] = {**optimizers.CLASSES, **subclasses(optimizers.Optimizer)}
        self.losses: dict[str, Any] = {**losses.CLASSES, **subclasses(losses.Loss), **functions}
        self.metrics: dict[str, Any] = {**metrics.CLASSES, **subclasses(metrics.Metric), **functions}


def _class_and_config(entry: Any, what: str) -> tuple[str, dict[str, Any]]:
    """``entry["class_name"]`` and ``entry["config"]``; any other field (``module``, ``registered_name``) is ignored."""
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("class_name"), str)
        or not isinstance(entry.get("config", {}), dict)
    ):
        raise ValueError(
            f"{what} must be an object with a string class_name and an object config, found {entry!r:.200}"
        )
    return entry["class_name"], entry.get("config", {})


def _deserialize(kind: str, entry: Any, table: Mapping[str, Any], wrapper: type | None = None) -> Any:
    """An object of an allow-listed class from its ``{"class_name", "config"}``; a function is wrapped in ``wrapper``."""
    class_name, config = _class_and_config(entry, f"the {kind} entry")
    found: Any = lookup(kind, class_name, table)
    if wrapper is not None and not isinstance(found, type):
        return wrapper(found, **config)
    return found.from_config(config)


def _model_from_config(config: dict[str, Any], tables: _Registries, source: str) -> Model:
    version = config.get("format_version")
    if not _is_count(version) or version == 0:
        raise SavedFileError(f"{source} has no valid format_version (found {version!r:.50}): not a highnn model file.")
    if version > FORMAT_VERSION:
        raise SavedFileError(
            f"{source} was written by a newer highnn (format version {version}; this one reads up to {FORMAT_VERSION}): upgrade highnn."
        )
    try:
        class_name, model_config = _class_and_config(config, "the model")
        model_class = lookup("model class", class_name, tables.models)
        if issubclass(model_class, tables.models["Sequential"]):
            layers = model_config.get("layers", [])
            if not isinstance(layers, list):
                raise ValueError(f"the Sequential config's layers must be a list, found {layers!r:.200}")
            built = [_deserialize("layer class", entry, tables.layers) for entry in layers]
            model = model_class(built, name=model_config.get("name"), trainable=model_config.get("trainable", True))
        else:
            model = model_class.from_config(model_config)
        input_shape = (config.get("build_config") or {}).get("input_shape")
        if input_shape is not None and not model.built:
            model.build(_checked_input_shape(input_shape))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise SavedFileError(f"{source}: cannot rebuild the model from its config: {error}") from error
    return model


def _checked_input_shape(shape: Any) -> tuple[int | None, ...]:
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_RANK
        or not all(n is None or (_is_count(n) and n > 0) for n in shape)
    ):
        raise ValueError(f"build_config.input_shape must be a list of positive integers or nulls, found {shape!r:.200}")
    return tuple(shape)


def _compile_from_config(model: Model, compile_config: Any, tables: _Registries, source: str) -> None:
    try:
        if not isinstance(compile_config, dict):
            raise ValueError(f"compile_config must be an object, found {compile_config!r:.200}")
        loss_entry, metric_entries = compile_config.get("loss"), compile_config.get("metrics") or []
        if not isinstance(metric_entries, list):
            raise ValueError(f"compile_config.metrics must be a list, found {metric_entries!r:.200}")
        model.compile(
            optimizer=_deserialize("optimizer", compile_config.get("optimizer"), tables.optimizers),
            loss=None
            if loss_entry is None
            else _deserialize("loss", loss_entry, tables.losses, losses.LossFunctionWrapper),
            metrics=[
                entry
                if isinstance(entry, str)
                else _deserialize("metric", entry, tables.metrics, metrics.MeanMetricWrapper)
                for entry in metric_entries
            ],  # fmt: skip
            run_eagerly=compile_config.get("run_eagerly", False) is True,
            steps_per_execution=_positive_int(compile_config.get("steps_per_execution", 1)),
            jit_compile=compile_config.get("jit_compile", "auto"),
        )
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise SavedFileError(f"{source}: cannot compile the model from its compile_config: {error}. "
                             "Pass the missing classes or functions in `custom_objects`, or load with compile=False.") from error  # fmt: skip


def _positive_int(value: Any) -> int:
    if not _is_count(value) or value == 0:
        raise ValueError(f"steps_per_execution must be a positive integer, found {value!r:.50}")
    return value
