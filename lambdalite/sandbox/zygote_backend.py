"""The isolating backend: sandboxes forked from a zygote tree, each in fresh pid, mount,
ipc, uts and network namespaces and its own cgroup (docs/decisions/0101).

The tree (`zygote_tree.py`): a runtime zygote, under bubblewrap where installed, forks
one zygote per function version, which keeps a spare sandbox forked ahead of demand.
Per sandbox the platform prepares, off the zygotes: a cgroup with the spec's limits
(made ahead too: `cgroup_spares.py`), a network namespace (with the Runtime API's
listening socket for `provided.*` runtimes), a log pipe and, for python runtimes, the
private channel; it sends their fds to the version zygote's spare and keeps its ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass, field

from lambdalite.sandbox import bubblewrap
from lambdalite.sandbox.armed_spares import ArmedSpare, ArmedSpares
from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.cgroup_spares import CgroupSpares
from lambdalite.sandbox.cgroups import Cgroup, CgroupTree
from lambdalite.sandbox.netns import Netns, NetnsPool
from lambdalite.sandbox.network import NetworkPolicy
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.zygote_tree import ZygoteTree

# AWS runs functions as sbx_user1051, uid 993; nothing on a Debian host uses these ids.
SANDBOX_UID = 993
SANDBOX_GID = 990
EXIT_WAIT_S = 5.0
FALLBACK_AS_HEADROOM_MB = 512
FIND_BWRAP = "find"  # ZygoteBackend(bwrap=...): look for it on PATH


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
    tmp_dir: str | None = None  # the fallback's private TMPDIR
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
        if not self.backend.isolated:
            # Fallback: no pid namespace; the sandbox's init leads its process group.
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.cgroup is not None:
            self.cgroup.kill()

    async def destroy(self) -> None:
        if self._destroyed:
            return
        self._destroyed = True
        self.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.exited), EXIT_WAIT_S)
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
        for close in (
            lambda: os.close(self.pidfd),
            lambda: os.close(self.log_fd),
            self.netns.close,
            *([self.channel.close] if self.channel else []),
        ):
            with contextlib.suppress(OSError):
                close()
        # Their numbers may belong to another file soon (another thread opens sockets):
        # a late read of the log must fail with EBADF, not block on someone else's fd.
        self.pidfd = self.log_fd = -1
        if self.cgroup is not None and not self.cgroup.remove():
            self.backend.leftover_cgroups.append(self.cgroup)


def _rlimits(spec: SandboxSpec) -> dict[str, int]:
    mib = 1024 * 1024
    return {
        # Address space, not memory: an interpreter maps far more than it touches, so
        # allow headroom. A MemoryError, not an OOM kill (platform-facts, "cgroups here").
        "RLIMIT_AS": (spec.memory_mb + FALLBACK_AS_HEADROOM_MB) * mib,
        "RLIMIT_FSIZE": spec.ephemeral_storage_mb * mib,
        "RLIMIT_CORE": 0,
    }


class ZygoteBackend:
    """Backend for root on Linux with cgroups (v1 or v2); see `available()`.

    With `isolated=False` it is the rlimits-only fallback for hosts where isolation is
    unavailable (no root): the same zygote tree and spares, but no namespaces, cgroups or
    uid change; memory (RLIMIT_AS, approximate), file size (RLIMIT_FSIZE) and time
    (killing the process group) are all it limits. `for_this_host()` picks the mode and
    says why. `bwrap`: the bubblewrap binary that builds each runtime zygote's root,
    looked up on PATH by default; None has the runtime zygote build it itself.
    """

    def __init__(
        self,
        cgroups: CgroupTree | None,
        netns: NetnsPool | None = None,
        uid: int = SANDBOX_UID,
        gid: int = SANDBOX_GID,
        isolated: bool = True,
        network: NetworkPolicy | None = None,
        bwrap: str | None = FIND_BWRAP,
    ) -> None:
        self.isolated = isolated
        self.cgroups = cgroups if isolated else None
        self._cgroup_spares = CgroupSpares(self.cgroups) if self.cgroups else None
        self.netns = netns or NetnsPool(network)
        self.uid = uid
        self.gid = gid
        if bwrap == FIND_BWRAP:
            bwrap = bubblewrap.find()
        # The name is in the command line of each of its processes: ps shows whose.
        name = f"lambdalite-zygotes-{secrets.token_hex(6)}"
        self.tree = ZygoteTree(
            name, isolated, uid, gid, bwrap if isolated else None, self.netns.resolv_conf
        )
        self.leftover_cgroups: list[Cgroup] = []
        # Pre-imported spares (docs/decisions/0701): isolated python sandboxes only.
        self.armed = ArmedSpares(self._cgroup_spares, self.netns, self.leftover_cgroups)

    @classmethod
    def for_this_host(
        cls, cgroup_parent: str = "lambdalite", network: NetworkPolicy | None = None
    ) -> tuple[ZygoteBackend, str | None]:
        """The best backend here, and a warning to show loudly (at start and in GET
        /health) when sandboxes are not isolated. Sandbox networking is set up here too
        (firewall, forwarding); if it fails, sandboxes get only `lo` and
        `network_warning` says why."""
        reason = cls.available()
        tree = CgroupTree.detect(cgroup_parent) if reason is None else None
        if tree is not None:
            tree.sweep()  # what servers killed earlier on this host left behind
        if reason is None and tree is None:
            reason = "no usable cgroup controllers (memory, pids)"
        if reason is None:
            backend = cls(tree, network=network)
            backend.netns.setup()
            return backend, None
        warning = f"sandboxes are NOT isolated ({reason}): rlimits only"
        return cls(None, isolated=False), warning

    @property
    def isolation(self) -> str:
        """How sandboxes are isolated, for GET /health and the startup log."""
        if not self.isolated:
            return "NOT isolated: rlimits only"
        what = "namespaces + cgroups + seccomp, forked from a zygote tree"
        if self.tree.bwrap:
            return f"bubblewrap ({self.tree.bwrap}) + {what}"
        if self.tree.bwrap_failure:
            why = f"bubblewrap failed ({self.tree.bwrap_failure})"
        else:
            why = "bubblewrap not found (apt: bubblewrap)"
        return f"{what}; {why}, so lambdalite builds the sandbox root itself"

    @property
    def network_warning(self) -> str | None:
        """Why sandboxes have less network than their policy asks (no nft, no veth, DNS
        on loopback...), for the server to show at start and in GET /health; None when
        all is well or not yet set up. The rlimits-only fallback shares the host's
        network: `isolated=False` already says so."""
        return self.netns.warning if self.isolated else None

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

    def warm_up(self) -> None:
        self.tree.warm_up_soon()

    async def prepare(self, spec: SandboxSpec) -> None:
        zygote = await self.tree.version(spec)
        if spec.preimport and spec.python and self.isolated:
            self.armed.refill(spec, zygote)

    async def release(self, spec: SandboxSpec) -> None:
        self.armed.release(spec.key)
        self.tree.release(spec.key)

    def _retry_leftovers(self) -> None:
        # In place: the armed spares append to this very list.
        self.leftover_cgroups[:] = [cg for cg in self.leftover_cgroups if not cg.remove()]

    async def start(self, spec: SandboxSpec, log_stream: str) -> ForkedSandbox:
        zygote = await self.tree.version(spec)
        self._retry_leftovers()
        if spec.preimport and spec.python and self.isolated:
            armed = await self.armed.take_or_wait(spec.key)
            try:
                if armed is not None:
                    return self._start_armed(armed, spec, log_stream)
            finally:
                self.armed.refill(spec, zygote)
        opened: list[int] = []
        cgroup: Cgroup | None = None
        netns: Netns | None = None
        channel: socket.socket | None = None
        child_channel: socket.socket | None = None
        tmp_dir: str | None = None
        log_r = -1
        try:
            if self._cgroup_spares is not None:
                cgroup = self._cgroup_spares.take(spec.memory_mb, spec.pids_max)
            env = spec.environ(log_stream)
            if self.isolated:
                online = spec.network == "default"
                netns = await self.netns.take(listen=not spec.python, network=online)
            else:
                netns, tmp_dir = self._unisolated(spec, env)
            log_r, log_w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(log_r, False)
            opened.append(log_w)
            procs = cgroup.open_procs() if cgroup is not None else []
            opened.extend(procs)
            fds = [log_w, *([netns.fd] if self.isolated else []), *procs]
            if spec.python:
                channel, child_channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                fds.append(child_channel.fileno())
            command = {
                "env": env,
                "netns": self.isolated,
                "cgroups": len(procs),
                "channel": spec.python,
                "rlimits": {} if self.isolated else _rlimits(spec),
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
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)
            if isinstance(e, OSError):
                raise BackendError(f"cannot start a sandbox: {e}") from e
            raise
        finally:
            # The sandbox holds its own copies now (SCM_RIGHTS duplicates in flight).
            if child_channel is not None:
                child_channel.close()
            for fd in opened:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if channel is not None:
            channel.setblocking(False)
        sandbox_id = cgroup.name if cgroup is not None else secrets.token_hex(8)
        return ForkedSandbox(
            sandbox_id, pid, pidfd, exited, log_r, netns, cgroup, channel, self, tmp_dir
        )

    def _start_armed(self, armed: ArmedSpare, spec: SandboxSpec, log_stream: str) -> ForkedSandbox:
        """A cold start on a pre-imported spare: it is its sandbox already (cgroup,
        network, privileges dropped); it only needs its log pipe, channel and environment."""
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        channel, child_channel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        command = json.dumps({"env": spec.environ(log_stream)}).encode()
        try:
            socket.send_fds(armed.go, [command], [log_w, child_channel.fileno()])
        except OSError as e:
            os.close(log_r)
            channel.close()
            cgroup = armed.discard()
            if cgroup is not None:
                self.leftover_cgroups.append(cgroup)
            raise BackendError(f"cannot start the armed spare: {e}") from e
        finally:
            os.close(log_w)
            child_channel.close()
            armed.go.close()
        os.set_blocking(log_r, False)
        channel.setblocking(False)
        sandbox_id = armed.cgroup.name if armed.cgroup is not None else secrets.token_hex(8)
        return ForkedSandbox(
            sandbox_id, armed.pid, armed.pidfd, armed.exited, log_r, armed.netns,
            armed.cgroup, channel, self,
        )  # fmt: skip

    def _unisolated(self, spec: SandboxSpec, env: dict[str, str]) -> tuple[Netns, str]:
        """The fallback's stand-ins: a Runtime API socket on the host's loopback (there
        is no namespace to hide it in), a private TMPDIR, the code at its host path."""
        listener = None
        if not spec.python:
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            listener.setblocking(False)
            env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{listener.getsockname()[1]}"
        tmp_dir = tempfile.mkdtemp(prefix="lambdalite-tmp-")
        env.update(TMPDIR=tmp_dir, LAMBDA_TASK_ROOT=str(spec.code_dir))
        return Netns(-1, listener), tmp_dir

    async def close(self) -> None:
        await self.armed.close()
        await self.tree.close()
        if self._cgroup_spares is not None:
            self._cgroup_spares.close()
            self.leftover_cgroups += self._cgroup_spares.leftovers
        self._retry_leftovers()
        self.netns.close()
