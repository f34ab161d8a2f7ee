"""The ``.highnn`` container: a zip archive written atomically and read in memory within size limits.

Member names are compared with a fixed list and never used as paths, sizes
are checked against :class:`Limits` before anything is read, and only stored
or deflated members are accepted (deflate is read in bounded chunks). JSON
members are parsed refusing repeated keys.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import stat
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, TypeGuard

FORMAT_VERSION = 1
CONFIG_MEMBER = "config.json"
WEIGHTS_MEMBER = "model.weights.safetensors"
OPTIMIZER_MEMBER = "optimizer.safetensors"
TRAINING_STATE_MEMBER = "training_state.json"
#: the only names an archive may hold; anything else is rejected, never read or written
MEMBERS = (CONFIG_MEMBER, WEIGHTS_MEMBER, OPTIMIZER_MEMBER, TRAINING_STATE_MEMBER)

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: saving the same model twice gives the same bytes
_READABLE_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # deflate output is read in bounded chunks
_UNSUPPORTED_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, compressed patched data, strong encryption
_TEMPORARY_TAG = ".highnn-tmp-"
_TEMPORARY_SUFFIX = re.compile(r"([0-9]{1,10})-[0-9a-f]{16}")  # the writer's pid, then a random token


class SavedFileError(ValueError):
    """A file that cannot be loaded: not highnn's format, truncated, inconsistent or hostile.

    It is raised before the model or anything on disk is changed.
    """


@dataclass(frozen=True)
class Limits:
    """What a file can make highnn read or allocate (``highnn.saving`` fills it from its ``MAX_*`` attributes)."""

    json_bytes: int
    tensor_bytes: int
    header_bytes: int
    rank: int
    json_depth: int = 64
    layers: int = 100_000


# ------------------------------------------------------------------- writing
def atomic_write(filepath: str, write: Callable[[IO[bytes]], Any], overwrite: bool = True) -> None:
    """Write ``filepath`` so that it holds either its old content or the complete new one, never a mix.

    ``write`` fills a temporary file next to ``filepath``, named
    ``.<name>.highnn-tmp-<pid>-<random>``, which is flushed to disk and renamed
    over ``filepath`` (``os.replace`` is atomic); if ``write`` raises, the
    temporary file is removed and ``filepath`` is untouched. Temporary files
    left for ``filepath`` by writers that died (``kill -9``) are removed first.
    """
    if os.path.isdir(filepath):
        raise IsADirectoryError(f"Cannot write {filepath!r}: it is an existing directory; give a file path.")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath!r} already exists; pass overwrite=True to replace it.")
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Cannot write {filepath!r}: the directory {directory!r} does not exist.")
    prefix = temporary_prefix(filepath)
    remove_stale_temporaries(directory, prefix)
    temporary = os.path.join(directory, f"{prefix}{os.getpid()}-{secrets.token_hex(8)}")
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


def temporary_prefix(filepath: str) -> str:
    """How the temporary files of a write to ``filepath`` begin (the writer's pid and a random token follow)."""
    return f".{os.path.basename(filepath)}{_TEMPORARY_TAG}"


def remove_stale_temporaries(directory: str, prefix: str) -> None:
    """Remove the temporary files starting with ``prefix`` whose writer process no longer runs."""
    for name in os.listdir(directory):
        match = _TEMPORARY_SUFFIX.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
        if match is not None and not _is_running(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))


def _is_running(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid == os.getpid() or os.name != "posix":  # elsewhere os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process (or an id this system cannot check): leave its file alone
    return True


def write_archive(stream: IO[bytes], members: Sequence[tuple[str, Callable[[], bytes]]]) -> None:
    """Zip the members into ``stream``; each payload is produced only when it is written."""
    with zipfile.ZipFile(stream, "w") as archive:
        for name, produce in members:
            compression = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), produce(), compress_type=compression)


# ------------------------------------------------------------------- reading
def read_file(path: str, limit: int) -> bytes:
    """The whole file, refused before reading if it is not a regular file or is larger than ``limit``.

    The file is opened without blocking and checked with ``fstat`` before any
    read, so a FIFO, a device or a directory is refused at once, never read forever.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"No file found at {path!r}.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"Cannot load {path!r}: it is a directory, not a file.") from None
    except OSError as error:
        raise SavedFileError(f"Cannot open {path!r}: {error.strerror or error}.") from error
    try:
        status = os.fstat(descriptor)
        if stat.S_ISDIR(status.st_mode):
            raise IsADirectoryError(f"Cannot load {path!r}: it is a directory, not a file.")
        if not stat.S_ISREG(status.st_mode):
            raise SavedFileError(f"Cannot load {path!r}: it is not a regular file (a FIFO, socket or device).")
        if status.st_size > limit:
            raise SavedFileError(f"{path!r} is {status.st_size} bytes, more than the limit of {limit} bytes.")
    except BaseException:
        os.close(descriptor)
        raise
    with os.fdopen(descriptor, "rb") as stream:
        data = stream.read(status.st_size)  # read(n) allocates n bytes up front: never pass it the limit
    if len(data) != status.st_size:
        raise SavedFileError(f"{path!r} changed while it was read ({len(data)} of {status.st_size} bytes).")
    return data


def member(path: str, name: str) -> str:
    """How errors name a member of the archive at ``path``."""
    return f"{path!r} (member {name!r})"


def read_archive(path: str, limits: Limits) -> dict[str, bytes]:
    """The archive's members, read in memory after checking their names, sizes and compression."""
    data = read_file(path, 2 * limits.tensor_bytes + 2 * limits.json_bytes + 2**20)
    if not data:
        raise SavedFileError(f"{path!r} is empty (0 bytes): not a highnn model file.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except NotImplementedError as error:
        raise SavedFileError(f"{path!r} uses a zip feature highnn archives never use ({error}).") from error
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise SavedFileError(f"{path!r} is not a highnn model file: it is not a zip archive ({error}).") from error
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        unexpected = [name for name in names if name not in MEMBERS]
        if unexpected:
            raise SavedFileError(
                f"{path!r} holds unexpected members {unexpected}; a highnn archive holds only {list(MEMBERS)}. "
                "Nothing was read or extracted."
            )
        repeated = repeated_names(names)
        if repeated:
            raise SavedFileError(f"{path!r} holds the member(s) {repeated} more than once.")
        missing = [name for name in (CONFIG_MEMBER, WEIGHTS_MEMBER) if name not in names]
        if missing:
            raise SavedFileError(f"{path!r} lacks the member(s) {missing}: truncated or not a highnn model file.")
        return {info.filename: _read_member(archive, info, path, limits) for info in infos}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limits: Limits) -> bytes:
    source = member(path, info.filename)
    limit = limits.json_bytes if info.filename.endswith(".json") else limits.tensor_bytes
    if info.file_size > limit:
        raise SavedFileError(
            f"{source} declares {info.file_size} bytes, more than the limit of {limit} bytes "
            "(a zip bomb or a corrupt file); it was not read."
        )
    if info.flag_bits & _UNSUPPORTED_FLAGS:
        raise SavedFileError(
            f"{source} is encrypted or holds patched data (zip flags {info.flag_bits:#x}); highnn archives do neither."
        )
    if info.compress_type not in _READABLE_COMPRESSIONS:
        raise SavedFileError(
            f"{source} uses zip compression method {info.compress_type}; highnn reads stored or deflated members only."
        )
    try:
        with archive.open(info) as stream:
            # zipfile stops at the declared size and checks the CRC at the end
            content = stream.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as error:
        raise SavedFileError(f"{source} cannot be read: {error}.") from error
    if len(content) != info.file_size:
        raise SavedFileError(f"{source} holds {len(content)} bytes but declares {info.file_size}: corrupt archive.")
    return content


# ---------------------------------------------------------------------- JSON
def parse_json(content: bytes, source: str, max_depth: int = 64) -> dict[str, Any]:
    """A JSON object from ``content`` nested at most ``max_depth`` deep, or a SavedFileError naming ``source``."""
    try:
        value = json.loads(content.decode("utf-8"), object_pairs_hook=unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SavedFileError(f"{source} is not valid JSON: {error}.") from error
    if not isinstance(value, dict):
        raise SavedFileError(f"{source} must hold a JSON object, found {type(value).__name__}.")
    if json_depth(value) > max_depth:
        raise SavedFileError(f"{source} nests objects and arrays more than {max_depth} deep.")
    return value


def json_depth(value: Any) -> int:
    """How deep objects and arrays nest in ``value`` (a scalar is 0), found without recursion."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, depth = level.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth + 1)
            level.extend((child, depth + 1) for child in children)
    return deepest


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing repeated keys (two parsers could disagree on which one wins)."""
    repeated = repeated_names([key for key, _ in pairs])
    if repeated:
        raise ValueError(f"repeated keys {repeated}")
    return dict(pairs)


def repeated_names(names: Sequence[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted(name for name, count in Counter(names).items() if count > 1)


def to_json(value: Any, what: str) -> bytes:
    """``value`` as JSON bytes; a TypeError names ``what`` if it cannot be serialised."""
    try:
        return json.dumps(value, indent=1).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise TypeError(f"Cannot save {what}: it is not JSON-serialisable ({error}).") from error


def is_count(value: Any) -> TypeGuard[int]:
    """A non-negative int read from JSON (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
