"""The few Linux system calls Python 3.11 does not wrap, through ctypes.

Used by the zygotes (mounts, namespaces, privilege drop) and by the platform (network
namespaces, the detached mount of a function's code). Python 3.12 adds `os.unshare` and
`os.setns`; until 3.11 is dropped these stay here, in one place, each raising `OSError`
with errno like the `os` functions do.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4

_SYS_PIVOT_ROOT = 155  # x86_64; aarch64 uses 41 (the zygote checks the machine)
# The new mount API has one number on every architecture.
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_OPEN_TREE_CLONE = 1
_AT_FDCWD = -100
_MOVE_MOUNT_F_EMPTY_PATH = 4

# By soname: ctypes.util.find_library would import subprocess and friends into every
# zygote (~6 ms per start) to find the same file.
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(
    source: str | None,
    target: str,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    result = _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(result, f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    number = 41 if os.uname().machine == "aarch64" else _SYS_PIVOT_ROOT
    _check(_libc.syscall(number, new_root.encode(), put_old.encode()), "pivot_root")


def open_tree_clone(path: str) -> int:
    """A detached copy of the mount at `path` (a bind mount not yet attached anywhere),
    as a close-on-exec fd another mount namespace can attach with `move_mount`."""
    flags = _OPEN_TREE_CLONE | os.O_CLOEXEC
    return _check(_libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, path.encode(), flags), "open_tree")


def move_mount(tree: int, target: str) -> None:
    """Attach a detached mount (`open_tree_clone`) at `target`."""
    args = (ctypes.c_int(tree), b"", ctypes.c_int(_AT_FDCWD), target.encode())
    _check(_libc.syscall(_SYS_MOVE_MOUNT, *args, _MOVE_MOUNT_F_EMPTY_PATH), f"move_mount {target}")


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    args = (ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0), ctypes.c_ulong(0))
    _check(_libc.prctl(ctypes.c_int(option), *args), "prctl")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")
