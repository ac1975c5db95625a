"""What a sandbox does to itself, in two halves, before it runs any function code.

`prepare` runs ahead of demand in a *spare* the zygote keeps forked (a fresh pid
namespace, already pid 1): new mount, ipc and uts namespaces, a size-limited tmpfs on
/tmp (EphemeralStorage), a proc showing only this pid namespace, and a second fork —
pid 1 stays a tiny init (`_init`), its child is the runtime, which waits for work.

`activate` runs in that runtime when the platform assigns the spare to a sandbox, in a
deliberate order (platform-facts, "An isolated sandbox in ~2 ms"):

1. join the sandbox's cgroups first, so the pages it touches from now on are charged
   to it (those touched while it was a spare stay with the zygote's cgroup);
2. enter the network namespace the platform prepared (only `lo`, maybe the Runtime
   API listening on it);
3. stdio on the platform's log pipe, the channel on fd 3, every other inherited fd
   closed (an open cgroup or namespace fd would be an escape route);
4. drop every capability from the bounding set, no ambient capabilities, no
   supplementary groups, an unprivileged uid/gid, and no_new_privs, so neither setuid
   binaries nor file capabilities can give anything back;
5. a seccomp filter over what an unprivileged process can still reach (seccomp.py).

The fds arrive in the order the platform sent them: log pipe, netns (if any), one
`cgroup.procs` per controller, channel (if any).
"""

from __future__ import annotations

import os
import resource
import struct
from typing import Any

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime import seccomp

CHANNEL_FD = 3
STATUS_FD = 3  # in the init only: init -> zygote, the runtime's wait status


def _split_fds(
    cmd: dict[str, Any], fds: list[int]
) -> tuple[int, int | None, list[int], int | None]:
    rest = list(fds)
    log = rest.pop(0)
    netns = rest.pop(0) if cmd.get("netns") else None
    cgroups = [rest.pop(0) for _ in range(int(cmd.get("cgroups", 0)))]
    channel = rest.pop(0) if cmd.get("channel") else None
    return log, netns, cgroups, channel


def _drop_privileges(cap_last: int, uid: int, gid: int, parent: int) -> None:
    for cap in range(cap_last + 1):
        sc.prctl(sc.PR_CAPBSET_DROP, cap)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    # Leaving uid 0 without SECBIT_KEEP_CAPS clears the permitted and effective sets.
    os.setresuid(uid, uid, uid)
    # Changing uid made the process non-dumpable, which hands /proc/self to root and
    # breaks /dev/stdout and friends; nothing in it is secret from the function itself.
    sc.prctl(sc.PR_SET_DUMPABLE, 1)
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    _die_with_parent(parent)


def _die_with_parent(parent: int | None = None) -> None:
    """Arm SIGKILL on the parent's death, again after every credential change (the
    kernel clears it on setuid). `parent` is the pid the caller expects as its parent:
    if it is already gone, the signal would never come, so exit now."""
    parent = os.getppid() if parent is None else parent
    sc.prctl(sc.PR_SET_PDEATHSIG, 9)
    if os.getppid() != parent:
        os._exit(1)


def _place_fds(log: int, channel: int | None) -> None:
    devnull = os.open("/dev/null", os.O_RDONLY)
    if channel is not None:
        # Move the channel out of the way first: it may already sit on fds 0-2.
        channel = os.dup(channel)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.dup2(devnull if channel is None else channel, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1, 1 << 16)


def _init(runtime_pid: int, status: int) -> None:
    """pid 1 of the sandbox: reap every orphan, report the runtime's status, then exit.

    The runtime must not be pid 1 itself: the kernel drops signals a pid-namespace init
    sends itself (`os.kill(os.getpid(), SIGKILL)` would do nothing, `abort()` hang), and
    orphans left by the function would never be reaped. Exiting tears down the whole
    namespace, every process the function left behind included.
    """
    os.dup2(status, STATUS_FD)
    os.closerange(0, STATUS_FD)
    os.closerange(STATUS_FD + 1, 1 << 16)
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == runtime_pid:
            # The zygote reads the real status here: our own exit code has only 8 bits
            # and cannot say "killed by a signal".
            os.write(STATUS_FD, struct.pack("!i", wait_status))
            os._exit(0)


def prepare(status: int, tmp_mb: int, cap_last: int, uid: int, gid: int) -> None:
    """Steps that do not depend on the sandbox's resources, done ahead of demand in a
    spare: namespaces, /tmp, /proc, and the split into init and runtime. Returns in the
    runtime only, still privileged (it must still enter its netns); the init drops its
    privileges at once."""
    os.setsid()
    # The zygote lives outside this pid namespace: getppid() says 0 while it lives.
    _die_with_parent(0)
    sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS)
    flags = sc.MS_NOSUID | sc.MS_NODEV
    sc.mount("tmpfs", "/tmp", "tmpfs", flags, f"size={tmp_mb}m,mode=1777")
    sc.mount("proc", "/proc", "proc", flags | sc.MS_NOEXEC)
    sc.sethostname("localhost")
    init = os.getpid()
    runtime = os.fork()
    if runtime != 0:
        _drop_privileges(cap_last, uid, gid, 0)
        _init(runtime, status)
    os.close(status)
    _die_with_parent(init)


def prepare_unisolated(status: int, zygote: int) -> None:
    """`prepare` for the rlimits-only fallback: only a session (so the platform can kill
    the process group) and the init/runtime split (for the exit status)."""
    os.setsid()
    _die_with_parent(zygote)
    init = os.getpid()
    runtime = os.fork()
    if runtime != 0:
        _init(runtime, status)
    os.close(status)
    _die_with_parent(init)


def activate_unisolated(cmd: dict[str, Any], fds: list[int], task_root: str) -> None:
    """`activate` for the fallback: rlimits instead of cgroups, the code at its host
    path, no network or privilege change (there is no privilege to drop)."""
    log, _, _, channel = _split_fds(cmd, fds)
    for name, value in (cmd.get("rlimits") or {}).items():
        limit = int(value)
        resource.setrlimit(getattr(resource, name), (limit, limit))
    _place_fds(log, channel)
    os.chdir(task_root)
    os.umask(0o022)


def activate(cmd: dict[str, Any], fds: list[int], cap_last: int, uid: int, gid: int) -> None:
    """Steps on demand, in the runtime, before any function code: its cgroups first
    (pages touched from now on are charged to it), its network namespace, its fds, and
    the privilege drop. Raises OSError if any step fails."""
    log, netns, cgroups, channel = _split_fds(cmd, fds)
    for fd in cgroups:
        os.write(fd, b"0")  # "0" is the writer itself, whatever its pid namespace
    if netns is not None:
        sc.setns(netns, sc.CLONE_NEWNET)
    else:
        sc.unshare(sc.CLONE_NEWNET)
    _place_fds(log, channel)
    _drop_privileges(cap_last, uid, gid, 1)  # its parent is the sandbox's init, pid 1
    os.chdir("/var/task")
    os.umask(0o022)
    seccomp.install()
