"""The files of a directory bucket: scanning, hashing, atomic writes, and whether a file
is still open for writing.

Everything here works below one root and never follows a symbolic link (os.scandir's
`follow_symlinks=False`, O_NOFOLLOW, and `names.object_path`): a link in a bucket is not
an object, and cannot lead lambdalite to read or write outside the bucket.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import signal
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdalite.buckets.model import ObjectState
from lambdalite.buckets.names import TEMP_PREFIX, UnsafePath, key_of, object_path
from lambdalite.errors import ApiError

_CHUNK = 1024 * 1024
# fcntl(2) F_SETSIG (Linux): the signal a lease break would send. SIGURG's default
# action is to ignore it; SIGIO's (the default signal) would kill the server if a writer
# opened the file in the microseconds our probe holds its lease.
_F_SETSIG = 10


@dataclass(frozen=True)
class FileFound:
    state: ObjectState
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileFound:
        return cls(ObjectState(st.st_size, st.st_mtime_ns), st.st_ino)


def scan(root: Path, under: str = "") -> dict[str, FileFound]:
    """Every object below `root` (or below its subdirectory `under`), by key."""
    start = root / under if under else root
    found: dict[str, FileFound] = {}
    for path, st in _walk(start):
        key = key_of(root, path)
        if key is not None:
            found[key] = FileFound.of(st)
    return found


def _walk(directory: Path) -> Iterator[tuple[Path, os.stat_result]]:
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we looked
        if stat.S_ISDIR(st.st_mode):
            if not entry.name.startswith(TEMP_PREFIX):
                yield from _walk(Path(entry.path))
        elif stat.S_ISREG(st.st_mode):
            yield Path(entry.path), st


def look(root: Path, key: str) -> FileFound | None:
    """The object `key` as it is now, or None if it is not (or no longer) a regular file."""
    try:
        path = object_path(root, key)
        st = os.lstat(path)
    except (OSError, UnsafePath, ApiError):  # ApiError: not a valid key
        return None
    return FileFound.of(st) if stat.S_ISREG(st.st_mode) else None


def md5_of(path: Path) -> str:
    """The object's eTag: the MD5 of its content in hex (an S3 single-part upload's)."""
    digest = hashlib.md5(usedforsecurity=False)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def being_written(path: Path) -> bool | None:
    """Whether some process holds the file open for writing: a read lease (fcntl(2)
    F_SETLEASE) is refused with EAGAIN exactly then. None when it cannot be told (no
    permission to take leases, a file system without them): the caller falls back on
    the file's size and mtime staying the same."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, _F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        return True if exc.errno == errno.EAGAIN else None
    else:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Written:
    state: ObjectState
    etag: str


def write_atomically(root: Path, key: str, data: bytes) -> Written:
    """Write `data` as object `key`: into a temporary file beside it, fsync'd, then renamed
    over the target (and the directory fsync'd), so no reader and no watcher ever sees
    part of it, and a crash leaves the old object or the new one."""
    target = object_path(root, key, make_parents=True)
    temp = target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(target.parent)
    st = os.lstat(target)
    return Written(
        ObjectState(st.st_size, st.st_mtime_ns),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )


def remove(root: Path, key: str) -> bool:
    """Delete object `key`; False if there was none."""
    try:
        path = object_path(root, key)
        os.unlink(path)
    except FileNotFoundError:
        return False
    _fsync_directory(path.parent)
    return True


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
