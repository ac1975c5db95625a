"""The isolating backend: sandboxes forked from a per-version zygote, each in fresh pid,
mount, ipc, uts and network namespaces and its own cgroup (docs/decisions/0101).

Per function version (`SandboxSpec.key`) one zygote is started on first use and kept
until its pool releases it. Per sandbox the platform prepares, off the zygote: a cgroup
with the spec's limits, a network namespace (with the Runtime API's listening socket for
`provided.*` runtimes), a log pipe and, for python runtimes, the private channel; it
sends their fds with the fork command and keeps its own ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
from dataclasses import dataclass, field

from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.cgroups import Cgroup, CgroupTree
from lambdalite.sandbox.netns import Netns, NetnsPool
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.zygote import Zygote

# AWS runs functions as sbx_user1051, uid 993; nothing on a Debian host uses these ids.
SANDBOX_UID = 993
SANDBOX_GID = 990
EXIT_WAIT_S = 5.0


@dataclass(eq=False)
class ForkedSandbox:
    """A `SandboxProcess` forked from a zygote."""

    id: str
    pid: int
    pidfd: int
    exited: asyncio.Future[int]
    log_fd: int
    netns: Netns
    cgroup: Cgroup | None
    channel: socket.socket | None
    backend: ZygoteBackend
    _destroyed: bool = field(default=False)

    @property
    def runtime_api(self) -> socket.socket | None:
        return self.netns.listener

    def oom_kills(self) -> int:
        return self.cgroup.oom_kills() if self.cgroup else 0

    def peak_memory_bytes(self) -> int:
        return self.cgroup.peak_memory_bytes() if self.cgroup else 0

    def kill(self) -> None:
        # pid 1 of the sandbox's pid namespace: the kernel kills every other process of
        # the namespace with it. The cgroup kill covers the moment before that lands.
        if not self.exited.done():
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()

    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        self.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), EXIT_WAIT_S)
        for close in (
            lambda: os.close(self.pidfd),
            lambda: os.close(self.log_fd),
            self.netns.close,
            *([self.channel.close] if self.channel else []),
        ):
            with contextlib.suppress(OSError):
                close()
        if self.cgroup is not None and not self.cgroup.remove():
            self.backend.leftover_cgroups.append(self.cgroup)


class ZygoteBackend:
    """Backend for root on Linux with cgroups (v1 or v2); see `available()`."""

    isolated = True

    def __init__(
        self,
        cgroups: CgroupTree | None,
        netns: NetnsPool | None = None,
        uid: int = SANDBOX_UID,
        gid: int = SANDBOX_GID,
    ) -> None:
        self.cgroups = cgroups
        self.netns = netns or NetnsPool()
        self.uid = uid
        self.gid = gid
        self.leftover_cgroups: list[Cgroup] = []
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Future[Zygote]] = {}

    @staticmethod
    def available() -> str | None:
        """None if this backend can run here, else why not (for the loud warning)."""
        if os.uname().sysname != "Linux":
            return "sandbox isolation needs Linux namespaces"
        if os.geteuid() != 0:
            return "sandbox isolation needs root (namespaces, cgroups, pivot_root)"
        if not os.path.exists("/proc/self/ns/pid"):
            return "this kernel has no pid namespaces"
        return None

    async def _zygote(self, spec: SandboxSpec) -> Zygote:
        key = spec.key
        zygote = self._zygotes.get(key)
        if zygote is not None and zygote.alive:
            return zygote
        if zygote is not None:
            zygote.close()
            del self._zygotes[key]
        pending = self._starting.get(key)
        if pending is None:
            # One start per version even when many cold starts arrive together.
            pending = asyncio.ensure_future(
                Zygote.start(spec.code_dir, spec.handler, spec.python, self.uid, self.gid)
            )
            self._starting[key] = pending
            pending.add_done_callback(lambda _: self._starting.pop(key, None))
        try:
            zygote = await asyncio.shield(pending)
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot start a zygote for {key}: {e}") from e
        self._zygotes[key] = zygote
        return zygote

    async def prepare(self, spec: SandboxSpec) -> None:
        await self._zygote(spec)

    async def release(self, spec: SandboxSpec) -> None:
        zygote = self._zygotes.pop(spec.key, None)
        if zygote is not None:
            zygote.close()

    def _retry_leftovers(self) -> None:
        self.leftover_cgroups = [cg for cg in self.leftover_cgroups if not cg.remove()]

    async def start(self, spec: SandboxSpec, log_stream: str) -> ForkedSandbox:
        zygote = await self._zygote(spec)
        self._retry_leftovers()
        sandbox_id = secrets.token_hex(8)
        opened: list[int] = []
        cgroup: Cgroup | None = None
        netns: Netns | None = None
        channel: socket.socket | None = None
        child_channel: socket.socket | None = None
        log_r = -1
        try:
            if self.cgroups is not None:
                cgroup = self.cgroups.create(sandbox_id, spec.memory_mb, spec.pids_max)
            netns = await self.netns.take(listen=not spec.python)
            log_r, log_w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(log_r, False)
            opened.append(log_w)
            procs = cgroup.open_procs() if cgroup is not None else []
            opened.extend(procs)
            fds = [log_w, netns.fd, *procs]
            if spec.python:
                channel, child_channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                fds.append(child_channel.fileno())
            command = {
                "env": spec.environ(log_stream),
                "tmpMb": spec.ephemeral_storage_mb,
                "hostname": "localhost",
                "netns": True,
                "cgroups": len(procs),
                "channel": spec.python,
            }
            pid, pidfd, exited = await zygote.fork(command, fds)
        except BaseException as e:
            for close in (
                *([lambda: os.close(log_r)] if log_r >= 0 else []),
                *([netns.close] if netns else []),
                *([channel.close] if channel else []),
            ):
                with contextlib.suppress(OSError):
                    close()
            if cgroup is not None:
                cgroup.remove()
            if isinstance(e, OSError):
                raise BackendError(f"cannot start a sandbox: {e}") from e
            raise
        finally:
            # The zygote holds its own copies now (SCM_RIGHTS duplicates in flight).
            if child_channel is not None:
                child_channel.close()
            for fd in opened:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if channel is not None:
            channel.setblocking(False)
        return ForkedSandbox(sandbox_id, pid, pidfd, exited, log_r, netns, cgroup, channel, self)

    async def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        self._retry_leftovers()
        self.netns.close()
