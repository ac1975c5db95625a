"""A seccomp filter for the sandbox's runtime: the kernel interfaces a function never needs.

Installed last by `isolation.activate`, after the privilege drop (no_new_privs makes it
allowed without capabilities) and inherited by everything the function starts. The
capabilities are already gone, so most of these calls would fail anyway; the filter
closes what an unprivileged process can still reach: new namespaces (a user namespace
would hand the function capabilities over its own copies of everything), the new mount
API, keyrings, bpf, perf events, userfaultfd, ptrace, handle-based opens. Denied calls
fail with EPERM, as they would for an unprivileged user; `clone3` gets ENOSYS so glibc
falls back to `clone`, whose flags a classic BPF filter can inspect.

A hand-written classic BPF program rather than libseccomp: it is 60 instructions, has no
dependency, and x86_64 is what we run on (other architectures skip the filter, and the
decision record says so). Anything that is not x86_64's native ABI is killed.
"""

from __future__ import annotations

import ctypes
import errno
import os

from lambdalite.runtime import _syscalls as sc

_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_KILL_PROCESS = 0x80000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data

_CLONE = 56
_NAMESPACE_FLAGS = 0x7E020000  # CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}
DENIED = {  # x86_64 numbers
    "ptrace": 101, "pivot_root": 155, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176,
    "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250,
    "unshare": 272, "perf_event_open": 298, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "setns": 308, "finit_module": 313, "kexec_file_load": 320,
    "bpf": 321, "userfaultfd": 323, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
}  # fmt: skip
_ENOSYS = {"clone3": 435}


class _Instruction(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _Program(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction)))


def program() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) tuples."""
    deny = _RET_ERRNO | errno.EPERM
    out = [
        (_LD_ABS, 0, 0, _ARCH),
        (_JEQ, 1, 0, _AUDIT_ARCH_X86_64),
        (_RET, 0, 0, _RET_KILL_PROCESS),
        (_LD_ABS, 0, 0, _NR),
        (_JGE, 0, 1, _X32_SYSCALL_BIT),
        (_RET, 0, 0, deny),
    ]
    for number in sorted(DENIED.values()):
        out += [(_JEQ, 0, 1, number), (_RET, 0, 0, deny)]
    for number in _ENOSYS.values():
        out += [(_JEQ, 0, 1, number), (_RET, 0, 0, _RET_ERRNO | errno.ENOSYS)]
    out += [
        (_JEQ, 0, 3, _CLONE),
        (_LD_ABS, 0, 0, _ARG0),  # the low 32 bits of the flags (little-endian)
        (_JSET, 0, 1, _NAMESPACE_FLAGS),
        (_RET, 0, 0, deny),
        (_RET, 0, 0, _RET_ALLOW),
    ]
    return out


def _build() -> tuple[_Program, ctypes.Array[_Instruction]]:
    instructions = program()
    array = (_Instruction * len(instructions))(*(_Instruction(*i) for i in instructions))
    return _Program(len(instructions), ctypes.cast(array, ctypes.POINTER(_Instruction))), array


# Built once, in the zygote: every sandbox forked from it only makes the prctl call.
_PROGRAM, _ARRAY = _build()


def install() -> bool:
    """Install the filter on the calling thread (and its future children); False where
    the filter does not apply (not x86_64)."""
    if os.uname().machine != "x86_64":
        return False
    sc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(_PROGRAM))
    return True
