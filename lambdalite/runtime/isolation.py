"""What a freshly forked sandbox does to itself before it runs any function code.

Runs in the zygote's child, which is already pid 1 of a new pid namespace. The order is
deliberate (platform-facts, "An isolated sandbox in ~2 ms"):

1. join the sandbox's cgroups first, so every page it touches from now on is charged to
   it and not to the zygote;
2. new mount, ipc and uts namespaces; the network namespace the platform prepared
   (only `lo`, maybe with the Runtime API listening on it) or a fresh empty one;
3. a size-limited tmpfs on /tmp (EphemeralStorage) and a proc that shows only this pid
   namespace;
4. stdio on the platform's log pipe, the channel on fd 3, every other inherited fd
   closed (an open cgroup or namespace fd would be an escape route);
5. drop every capability from the bounding set, no ambient capabilities, no
   supplementary groups, an unprivileged uid/gid, and no_new_privs, so neither setuid
   binaries nor file capabilities can give anything back.

The fds arrive in the order the platform sent them: log pipe, netns (if any), one
`cgroup.procs` per controller, channel (if any).
"""

from __future__ import annotations

import os
from typing import Any

from lambdalite.runtime import _syscalls as sc

CHANNEL_FD = 3


def _split_fds(
    cmd: dict[str, Any], fds: list[int]
) -> tuple[int, int | None, list[int], int | None]:
    rest = list(fds)
    log = rest.pop(0)
    netns = rest.pop(0) if cmd.get("netns") else None
    cgroups = [rest.pop(0) for _ in range(int(cmd.get("cgroups", 0)))]
    channel = rest.pop(0) if cmd.get("channel") else None
    return log, netns, cgroups, channel


def _drop_privileges(cap_last: int, uid: int, gid: int) -> None:
    for cap in range(cap_last + 1):
        sc.prctl(sc.PR_CAPBSET_DROP, cap)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    # Leaving uid 0 without SECBIT_KEEP_CAPS clears the permitted and effective sets.
    os.setresuid(uid, uid, uid)
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def _place_fds(log: int, channel: int | None) -> None:
    devnull = os.open("/dev/null", os.O_RDONLY)
    if channel is not None:
        # Move the channel out of the way first: it may already sit on fd 0-2.
        channel = os.dup(channel)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if channel is not None:
        os.dup2(channel, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1 if channel is not None else CHANNEL_FD, 1 << 16)


def enter(cmd: dict[str, Any], fds: list[int], cap_last: int, uid: int, gid: int) -> None:
    """Isolate the calling (forked) process; raises OSError if any step fails."""
    os.setsid()
    sc.prctl(sc.PR_SET_PDEATHSIG, 9)  # SIGKILL when the zygote goes
    log, netns, cgroups, channel = _split_fds(cmd, fds)
    for fd in cgroups:
        os.write(fd, b"0")  # "0" is the writer itself, whatever its pid namespace
    sc.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWIPC | sc.CLONE_NEWUTS)
    if netns is not None:
        sc.setns(netns, sc.CLONE_NEWNET)
    else:
        sc.unshare(sc.CLONE_NEWNET)
    flags = sc.MS_NOSUID | sc.MS_NODEV
    sc.mount("tmpfs", "/tmp", "tmpfs", flags, f"size={int(cmd['tmpMb'])}m,mode=1777")
    sc.mount("proc", "/proc", "proc", flags | sc.MS_NOEXEC)
    sc.sethostname(str(cmd.get("hostname", "localhost")))
    _place_fds(log, channel)
    _drop_privileges(cap_last, uid, gid)
    os.chdir("/var/task")
    os.umask(0o022)
