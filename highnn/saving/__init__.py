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
nothing in the file: the archive is read in memory and never extracted
(:mod:`~highnn.saving.archive`), safetensors headers are validated before the
library sees them (:mod:`~highnn.saving.safetensors_io`), and classes are
looked up in allow-lists only, plus the ``custom_objects`` the caller passes
(:mod:`~highnn.saving.serialization`); nothing is imported, unpickled or
evaluated. A file that fails a check raises :class:`SavedFileError` and
changes nothing. This module is the public API.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from highnn.checks import fail
from highnn.saving.archive import (
    CONFIG_MEMBER,
    FORMAT_VERSION,
    MEMBERS,
    OPTIMIZER_MEMBER,
    TRAINING_STATE_MEMBER,
    WEIGHTS_MEMBER,
    Limits,
    SavedFileError,
    atomic_write,
    member,
    parse_json,
    read_archive,
    read_file,
    to_json,
    write_archive,
)
from highnn.saving.safetensors_io import (
    OPTIMIZER_FORMAT,
    SAFETENSORS_DTYPES,
    WEIGHTS_FORMAT,
    NamedArrays,
    decode_tensors,
    encode_tensors,
    validate_safetensors_header,
)
from highnn.saving.serialization import AllowList, compile_from_config, is_model_class, model_config, model_from_config
from highnn.variables import Variable

if TYPE_CHECKING:
    from highnn.models import Model

MODEL_SUFFIX = ".highnn"
WEIGHTS_SUFFIX = ".weights.safetensors"

#: limits on what a file can make highnn read or allocate (lower them to load untrusted files on a small machine)
MAX_JSON_BYTES = 16 * 2**20
MAX_TENSOR_BYTES = 16 * 2**30
MAX_HEADER_BYTES = 100 * 2**20  # the safetensors library's own limit
MAX_RANK = 32
MAX_JSON_DEPTH = 64  # how deep objects and arrays may nest in a JSON member
MAX_LAYERS = 100_000  # layers a model config may declare

__all__ = [
    "CONFIG_MEMBER", "FORMAT_VERSION", "MAX_HEADER_BYTES", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_LAYERS", "MAX_RANK",
    "MAX_TENSOR_BYTES",
    "MEMBERS", "MODEL_SUFFIX", "OPTIMIZER_FORMAT", "OPTIMIZER_MEMBER", "SAFETENSORS_DTYPES", "TRAINING_STATE_MEMBER",
    "WEIGHTS_FORMAT", "WEIGHTS_MEMBER", "WEIGHTS_SUFFIX", "SavedFileError", "assign_variables", "atomic_write",
    "decode_tensors", "encode_tensors", "load_model", "load_weights", "restore_training_state", "save_model",
    "save_weights", "validate_safetensors_header",
]  # fmt: skip


def save_model(model: Model, filepath: str | os.PathLike[str], overwrite: bool = True, include_optimizer: bool = True,
               training_state: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write ``model`` to a ``.highnn`` archive (see the module docstring); ``model.save`` calls this.

    ``training_state`` (JSON-serialisable) is stored too; ``BackupAndRestore``
    keeps the epoch and random state there.
    """
    path = _checked_path(filepath, (MODEL_SUFFIX,), "save")
    _check_model(model, "save")
    config = to_json(model_config(model), "the model's config")
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
        state = to_json(training_state, "the training state")
        members.append((TRAINING_STATE_MEMBER, lambda: state))
    atomic_write(path, lambda stream: write_archive(stream, members), overwrite)


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
    allowed = AllowList(custom_objects)
    limits = _limits()
    members = read_archive(path, limits)
    config = parse_json(members[CONFIG_MEMBER], member(path, CONFIG_MEMBER), limits.json_depth)
    weights, optimizer_state = _saved_states(members, path, limits)  # every check passes before anything is built
    elements = sum(array.size for _, array in weights)  # building may allocate no more weights than the file holds
    model = model_from_config(config, allowed, member(path, CONFIG_MEMBER), limits, elements)
    compile_config = config.get("compile_config")
    if compile and compile_config is not None:
        compile_from_config(model, compile_config, allowed, member(path, CONFIG_MEMBER))
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

    The file must hold as many weights as the model, each of the same shape
    and kind of dtype (a float weight is not read from integers or booleans).
    """
    path = _checked_path(filepath, (WEIGHTS_SUFFIX, MODEL_SUFFIX), "load_weights")
    _check_model(model, "load_weights")
    limits = _limits()
    if path.endswith(MODEL_SUFFIX):
        weights, _ = _saved_states(read_archive(path, limits), path, limits)
    else:
        weights = decode_tensors(read_file(path, limits.tensor_bytes), repr(path), WEIGHTS_FORMAT, limits)
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
    limits = _limits()
    members = read_archive(path, limits)
    if TRAINING_STATE_MEMBER not in members:
        raise SavedFileError(
            f"{path!r} holds no {TRAINING_STATE_MEMBER!r}: it is a saved model, not a training backup."
        )
    state = parse_json(members[TRAINING_STATE_MEMBER], member(path, TRAINING_STATE_MEMBER), limits.json_depth)
    check(state)
    weights, optimizer_state = _saved_states(members, path, limits)
    _restore(model, weights, optimizer_state, path)
    return state


def assign_variables(groups: Sequence[tuple[str, Sequence[Variable], NamedArrays]], source: str) -> None:
    """Give each variable the saved array at its position, once every group's counts, shapes and dtypes match.

    All or nothing. A float array may be stored in another float type (it
    takes the variable's); an array of another kind (int64 for a float, bool,
    uint8) is refused, never cast.

    ``groups`` holds ``(what, variables, saved arrays)``, ``what`` naming them in errors; a mismatch is a
    :class:`SavedFileError` (a ``ValueError``) naming the file.
    """
    for what, variables, saved in groups:
        if len(saved) != len(variables):
            raise SavedFileError(
                f"{source} holds {len(saved)} {what} but the model has {len(variables)}: "
                f"saved {[name for name, _ in saved]}, model {[v.path for v in variables]}."
            )
        for position, (variable, (name, array)) in enumerate(zip(variables, saved, strict=True)):
            if array.shape != variable.shape:
                raise SavedFileError(
                    f"{source}: {what} {position} ({name!r} in the file, {variable.path!r} in the model) "
                    f"has shape {array.shape} in the file but {variable.shape} in the model."
                )
            if array.dtype.kind != np.dtype(variable.dtype).kind:
                raise SavedFileError(
                    f"{source}: {what} {position} ({name!r} in the file, {variable.path!r} in the model) "
                    f"is stored as {array.dtype} but the model's is {variable.dtype}; it is not cast."
                )
    for _, variables, saved in groups:
        for variable, (_, array) in zip(variables, saved, strict=True):
            variable.assign(array)


def _limits() -> Limits:
    """The limits as this module's attributes set them now (users may lower them)."""
    return Limits(MAX_JSON_BYTES, MAX_TENSOR_BYTES, MAX_HEADER_BYTES, MAX_RANK, MAX_JSON_DEPTH, MAX_LAYERS)


def _saved_states(members: dict[str, bytes], path: str, limits: Limits) -> tuple[NamedArrays, NamedArrays | None]:
    """An archive's validated weights, and its optimizer state (None when it holds none)."""
    weights = decode_tensors(members[WEIGHTS_MEMBER], member(path, WEIGHTS_MEMBER), WEIGHTS_FORMAT, limits)
    if OPTIMIZER_MEMBER not in members:
        return weights, None
    source = member(path, OPTIMIZER_MEMBER)
    optimizer = decode_tensors(members[OPTIMIZER_MEMBER], source, OPTIMIZER_FORMAT, limits)
    for name, array in optimizer:
        _check_optimizer_array(name, array, source)
    return weights, optimizer


def _check_optimizer_array(name: str, array: np.ndarray, source: str) -> None:
    """Refuse optimizer state no optimizer could reach: non-finite values, a negative step count or learning rate."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise SavedFileError(f"{source}: {name!r} holds NaN or infinite values.")
    if name.endswith(("/iterations", "/learning_rate")) and (array.shape != () or array < 0):
        raise SavedFileError(f"{source}: {name!r} must be a non-negative scalar, found {array!r:.100}.")


def _variable_arrays(variables: Sequence[Variable]) -> NamedArrays:
    return [(variable.path, variable.numpy()) for variable in variables]


def _restore(model: Model, weights: NamedArrays, optimizer_state: NamedArrays | None, path: str) -> None:
    """Assign the weights and, if the model is compiled and the file has it, the optimizer state."""
    groups = [("weights", model.weights, weights)]
    if optimizer_state is not None and model.compiled:
        if model.built and not model.optimizer.built:
            model.optimizer.build(model.trainable_weights)  # creates the slots the saved state fills
        groups.append(("optimizer variables", model.optimizer.variables, optimizer_state))
    assign_variables(groups, repr(path))


def _check_model(model: Any, action: str) -> None:
    if not is_model_class(type(model)):
        fail(action, "model", "a highnn Model", model, TypeError)


def _checked_path(filepath: Any, suffixes: tuple[str, ...], action: str) -> str:
    if not isinstance(filepath, (str, os.PathLike)) or not isinstance(os.fspath(filepath), str):
        fail(action, "filepath", "a str or os.PathLike", filepath, TypeError)
    path = os.fspath(filepath)
    if not path.endswith(suffixes):
        expected = " or ".join(f"`{suffix}`" for suffix in suffixes)
        raise ValueError(f"{action}: `filepath` must end in {expected}, received {path!r}.")
    return path
