"""Pre-imported spares: a spare made into its sandbox ahead of demand, which then imports
its dependency layer's heaviest modules before any request arrives (docs/decisions/0701).

Importing a layer runs its code, which is as untrusted as the function's: it must never
run with a zygote's privileges (they hold CAP_SYS_ADMIN; with it, code could mount a
host proc and escape). So the import runs in the sandbox itself, after every privileged
step — what `isolation.activate` does, in the same order: its cgroups, its network
namespace, the privilege drop, the seccomp filter. It is a sandbox of exactly one
function version, like any other; what it imported stays in it.

    arm(cmd, fds, ...)   the platform's first message (`arm`): netns fd, cgroup.procs fds
    preimport(modules)   as the sandbox user, with the function's environment
    finish(fds, go)      the second message, at the cold start: log pipe and channel

While armed, stdio is /dev/null and only `go` (the platform's socket) stays open.
"""

from __future__ import annotations

import importlib
import os
import socket
from typing import Any

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import isolation, seccomp


def arm(cmd: dict[str, Any], fds: list[int], cap_last: int, uid: int, gid: int, keep: int) -> None:
    """Become the sandbox before the resources only a cold start brings (log, channel).
    fds: the network namespace, then one `cgroup.procs` per controller."""
    netns, cgroups = fds[0], fds[1 : 1 + int(cmd["cgroups"])]
    for fd in cgroups:
        os.write(fd, b"0")  # first: the imports' pages are the sandbox's
    sc.setns(netns, sc.CLONE_NEWNET)
    devnull = os.open("/dev/null", os.O_RDWR)
    for target in (0, 1, 2):
        if target != keep:
            os.dup2(devnull, target)
    # Every fd but stdio and `go` goes: an open cgroup or namespace fd is an escape route.
    for low, high in ((3, keep), (keep + 1, 1 << 16)):
        if low < high:
            os.closerange(low, high)
    isolation._drop_privileges(cap_last, uid, gid, 1)  # its parent is the sandbox's init
    os.chdir("/var/task")
    os.umask(0o022)
    seccomp.install()


def preimport(modules: list[str]) -> list[str]:
    """Import what can be imported; a failure is left for the function's own import to
    meet again (and report) at its init."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException:  # a layer's SystemExit must not end the spare either
            continue
        loaded.append(name)
    return loaded


def finish(fds: list[int], go: socket.socket) -> int:
    """The cold start's own fds: the log pipe on stdout and stderr, `go` closed; returns
    the channel's fd, left where it arrived. Nothing else is closed or moved: every fd
    still open was opened by the imports, in this sandbox (a module's connection or
    file), and the escape routes went before them (`arm`)."""
    log, channel = fds[0], fds[1]
    os.close(go.detach())
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return channel
