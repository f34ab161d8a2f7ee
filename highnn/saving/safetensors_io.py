"""Weights in safetensors format: written with their saved order, read only after a strict header check.

The header is validated here (length, JSON, dtypes, shapes, offsets) so the
safetensors library is only ever handed a file whose every tensor fits its data.
"""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

import numpy as np

from highnn.saving.archive import (
    FORMAT_VERSION,
    Limits,
    SavedFileError,
    is_count,
    parse_json,
    repeated_names,
    unique_keys,
)

METADATA_KEY = "highnn"  # the safetensors metadata entry holding {"format", "format_version", "order"}
WEIGHTS_FORMAT = "highnn.weights"
OPTIMIZER_FORMAT = "highnn.optimizer"

#: safetensors dtypes highnn reads, with their NumPy types (BF16 and F8 have none)
SAFETENSORS_DTYPES: dict[str, type[np.generic]] = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16, "F16": np.float16,
    "U32": np.uint32, "I32": np.int32, "F32": np.float32, "U64": np.uint64, "I64": np.int64, "F64": np.float64,
}  # fmt: skip

NamedArrays = list[tuple[str, np.ndarray]]


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
    repeated = repeated_names(names)
    if repeated:
        raise ValueError(f"Cannot save: several weights share the path(s) {repeated}; give the layers unique names.")
    # one metadata entry: safetensors keeps metadata in a hash map, so several would be written in random order
    metadata = {METADATA_KEY: json.dumps({"format": file_format, "format_version": FORMAT_VERSION, "order": names})}
    return _safetensors().numpy.save({name: np.array(array, order="C") for name, array in named}, metadata=metadata)


def decode_tensors(data: bytes, source: str, file_format: str, limits: Limits) -> NamedArrays:
    """The arrays of a safetensors file, in saved order, after validating its header."""
    metadata, shapes = validate_safetensors_header(data, source, limits)
    order = _saved_order(metadata, set(shapes), source, file_format)
    library = _safetensors()
    try:
        tensors = library.numpy.load(bytes(data))
    except (library.SafetensorError, ValueError, TypeError) as error:
        raise SavedFileError(f"{source}: the safetensors library rejected the file: {error}.") from error
    if set(tensors) != set(shapes) or any(tensors[name].shape != shapes[name] for name in shapes):
        raise SavedFileError(f"{source}: the safetensors library read tensors that differ from the header.")
    return [(name, np.array(tensors[name])) for name in order]


def validate_safetensors_header(
    data: bytes, source: str, limits: Limits
) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """The header's metadata and each tensor's shape, or a SavedFileError saying what is wrong.

    Checks: the 8-byte little-endian header length is bounded and inside the
    file; the header is a JSON object; each tensor has exactly ``dtype``,
    ``shape`` and ``data_offsets``; the dtype is in :data:`SAFETENSORS_DTYPES`;
    the shape is at most ``limits.rank`` non-negative ints whose product
    times the item size (in exact integers, so it cannot wrap around) equals
    the offsets' span; and the spans tile the data buffer exactly.
    """
    if len(data) < 8:
        raise SavedFileError(
            f"{source} is {len(data)} bytes, too short for a safetensors file (8-byte header length first)."
        )
    header_length = int.from_bytes(data[:8], "little")
    if header_length > min(limits.header_bytes, len(data) - 8):
        raise SavedFileError(
            f"{source}: the safetensors header length {header_length} exceeds the {len(data) - 8} bytes "
            f"that follow it or the limit of {limits.header_bytes}: truncated or not a safetensors file."
        )
    header = parse_json(data[8 : 8 + header_length], f"{source} safetensors header")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SavedFileError(f"{source}: the safetensors __metadata__ must map strings to strings.")
    buffer_size = len(data) - 8 - header_length
    shapes: dict[str, tuple[int, ...]] = {}
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        shapes[name], span = _checked_entry(f"{source}: tensor {name!r}", entry, buffer_size, limits.rank)
        spans.append((*span, name))
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


def _checked_entry(where: str, entry: Any, buffer_size: int, max_rank: int) -> tuple[tuple[int, ...], tuple[int, int]]:
    """One header entry's shape and ``(begin, end)`` byte span, checked against the data buffer."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise SavedFileError(
            f"{where} must be an object with exactly dtype, shape and data_offsets, found {entry!r:.200}."
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
        raise SavedFileError(f"{where} has dtype {dtype!r:.50}; supported dtypes are {', '.join(SAFETENSORS_DTYPES)}.")
    if not isinstance(shape, list) or len(shape) > max_rank or not all(is_count(n) for n in shape):
        raise SavedFileError(
            f"{where} has shape {shape!r:.200}; a shape is a list of at most {max_rank} non-negative integers."
        )
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_count(n) for n in offsets):
        raise SavedFileError(
            f"{where} has data_offsets {offsets!r:.200}; expected [begin, end] as non-negative integers."
        )
    begin, end = offsets
    if not begin <= end <= buffer_size:
        raise SavedFileError(
            f"{where} has data_offsets [{begin}, {end}] outside the {buffer_size}-byte data buffer: "
            "truncated or corrupt file."
        )
    needed = math.prod(shape) * np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
    if needed != end - begin:
        raise SavedFileError(
            f"{where}: shape {shape} of {dtype} needs {needed} bytes, but its data_offsets span {end - begin} bytes."
        )
    return tuple(shape), (begin, end)


def _saved_order(metadata: dict[str, str], names: set[str], source: str, file_format: str) -> list[str]:
    """The tensors' saved order, from the metadata entry highnn writes."""
    try:
        description = json.loads(metadata[METADATA_KEY], object_pairs_hook=unique_keys)
    except (KeyError, ValueError, RecursionError):
        description = None
    if not isinstance(description, dict) or description.get("format") != file_format:
        raise SavedFileError(
            f"{source} is not a {file_format} file written by highnn: "
            f"its metadata lacks a valid {METADATA_KEY!r} entry."
        )
    version, order = description.get("format_version"), description.get("order")
    if not is_count(version) or version > FORMAT_VERSION:
        raise SavedFileError(
            f"{source} has format version {version!r:.50}; "
            f"this highnn reads versions up to {FORMAT_VERSION}: upgrade highnn."
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
