"""A small ctypes binding of Linux inotify(7): one non-blocking descriptor, watches on
directories, and the events read back.

Only what the bucket watcher needs: `add` a directory, `remove` a watch, `read` what is
queued without blocking. Directory watches are not recursive: the watcher adds one per
directory of a bucket, and another when one is created.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from dataclasses import dataclass

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC

# What a bucket's directories are watched for.
WATCHED = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
)
_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (+ name)


class InotifyUnavailable(Exception):
    pass


@dataclass(frozen=True)
class InotifyEvent:
    wd: int  # -1 for IN_Q_OVERFLOW
    mask: int
    name: str  # "" for an event of the watched directory itself

    @property
    def is_dir(self) -> bool:
        return bool(self.mask & IN_ISDIR)


class Inotify:
    def __init__(self) -> None:
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
            self._add = libc.inotify_add_watch
            self._rm = libc.inotify_rm_watch
            init = libc.inotify_init1
        except (OSError, AttributeError) as exc:
            raise InotifyUnavailable(f"no inotify in this C library: {exc}") from None
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        init.argtypes = [ctypes.c_int]
        fd = init(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise InotifyUnavailable(f"inotify_init1 failed: {os.strerror(errno)}")
        self.fd: int = fd

    def add(self, directory: str) -> int:
        """Watch a directory (not following a link); OSError (ENOSPC: the user's watch
        limit, fs.inotify.max_user_watches) when the kernel refuses."""
        wd = int(self._add(self.fd, os.fsencode(directory), WATCHED))
        if wd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), directory)
        return wd

    def remove(self, wd: int) -> None:
        self._rm(self.fd, wd)  # an already gone watch (EINVAL) is no error here

    def read(self) -> list[InotifyEvent]:
        """Everything queued now; [] when nothing is."""
        events: list[InotifyEvent] = []
        while True:
            try:
                buffer = os.read(self.fd, 256 * 1024)
            except BlockingIOError:
                return events
            offset = 0
            while offset < len(buffer):
                wd, mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
                offset += _HEADER.size
                raw = buffer[offset : offset + length].rstrip(b"\0")
                offset += length
                events.append(InotifyEvent(wd, mask, os.fsdecode(raw)))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
