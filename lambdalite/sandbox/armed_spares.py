"""Pre-imported spares, kept per function version (docs/decisions/0701-dependency-layers.md).

A version whose dependency layer has slow imports (boto3, numpy: ~150 ms) gets a sandbox
made ahead of demand that has imported them: the platform hands a spare of the version
zygote its cgroup and network namespace at once (`arm`), the spare becomes the sandbox —
joined, unprivileged, filtered — and only then imports the modules (runtime/armed.py), and
answers. A cold start takes it and sends only what is its own: the log pipe, the channel
and the final environment. The import never runs in a zygote: a zygote keeps the
privileges every sandbox forked from it needs, and code with them could leave its
namespaces; an armed spare has dropped them, like the function it will run.

What it costs: the imported pages are the sandbox's, not shared (a zygote that imported
them could share them, and would have run layer code with its privileges), and one armed
spare per version that has them, refilled after each cold start takes one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from dataclasses import dataclass, field

from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.cgroup_spares import CgroupSpares
from lambdalite.sandbox.cgroups import Cgroup
from lambdalite.sandbox.netns import Netns, NetnsPool
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.zygote import Zygote

# Importing a data-science stack on a busy two-vCPU machine can take seconds.
ARM_TIMEOUT_S = 60.0


@dataclass(eq=False)
class ArmedSpare:
    pid: int
    pidfd: int
    exited: asyncio.Future[int]
    go: socket.socket
    cgroup: Cgroup | None
    netns: Netns
    loaded: list[str] = field(default_factory=list)

    def discard(self) -> Cgroup | None:
        """Kill it and free what it holds; returns its cgroup if it could not be removed
        yet (its processes are still going)."""
        self.go.close()
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(self.pidfd)
        self.netns.close()
        if self.cgroup is not None:
            self.cgroup.kill()
            if not self.cgroup.remove():
                return self.cgroup
        return None


class ArmedSpares:
    def __init__(
        self,
        cgroups: CgroupSpares | None,
        netns: NetnsPool,
        leftovers: list[Cgroup],
        per_version: int = 1,
    ) -> None:
        self._cgroups = cgroups
        self._netns = netns
        self._leftovers = leftovers  # the backend retries removing these
        self.per_version = per_version
        self._ready: dict[str, list[ArmedSpare]] = {}
        self._arming: dict[str, int] = {}
        self._promised: dict[str, int] = {}  # cold starts waiting for a spare being armed
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed: dict[str, asyncio.Event] = {}
        self._closed = False

    def take(self, key: str) -> ArmedSpare | None:
        """An armed spare of the version `key`, if one is ready."""
        ready = self._ready.get(key, [])
        while ready:
            spare = ready.pop()
            if not spare.exited.done():
                return spare
            self._drop(spare)
        return None

    async def take_or_wait(self, key: str) -> ArmedSpare | None:
        """An armed spare, waiting for one being armed if no other cold start already
        waits for it: its import is under way, and finishing it is never slower than
        starting the same import again beside it on the same CPUs. None: take the
        ordinary way (nothing armed or arming for this one, or the arming failed)."""
        spare = self.take(key)
        if spare is not None or self._arming.get(key, 0) <= self._promised.get(key, 0):
            return spare
        self._promised[key] = self._promised.get(key, 0) + 1
        try:
            while True:
                spare = self.take(key)
                if spare is not None or not self._arming.get(key, 0):
                    return spare
                event = self._changed.setdefault(key, asyncio.Event())
                event.clear()
                await event.wait()
        finally:
            self._promised[key] -= 1

    def ready(self, key: str) -> int:
        return len(self._ready.get(key, []))

    def refill(self, spec: SandboxSpec, zygote: Zygote) -> None:
        """Arm spares of `spec` in the background until it has `per_version`."""
        key = spec.key
        while (
            not self._closed
            and self.ready(key) + self._arming.get(key, 0) < self.per_version
            and zygote.alive
        ):
            self._arming[key] = self._arming.get(key, 0) + 1
            task = asyncio.ensure_future(self._arm(spec, zygote))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def wait_ready(self, key: str, timeout_s: float = ARM_TIMEOUT_S) -> bool:
        """Until the version has an armed spare (benchmarks and tests); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.ready(key):
            event = self._changed.setdefault(key, asyncio.Event())
            event.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), left)
        return True

    async def _arm(self, spec: SandboxSpec, zygote: Zygote) -> None:
        key = spec.key
        spare = None
        try:
            spare = await self._start(spec, zygote)
        except (BackendError, OSError):
            pass  # the next cold start takes the ordinary way and says why
        finally:
            self._arming[key] = self._arming.get(key, 1) - 1
            if spare is not None and (self._closed or not zygote.alive):
                self._drop(spare)
            elif spare is not None:
                self._ready.setdefault(key, []).append(spare)
            # Whoever waits learns the outcome, a failure included.
            self._changed.setdefault(key, asyncio.Event()).set()

    async def _start(self, spec: SandboxSpec, zygote: Zygote) -> ArmedSpare | None:
        cgroup = (
            self._cgroups.take(spec.memory_mb, spec.pids_max) if self._cgroups is not None else None
        )
        netns: Netns | None = None
        procs: list[int] = []
        try:
            netns = await self._netns.take(listen=False, network=spec.network == "default")
            procs = cgroup.open_procs() if cgroup is not None else []
            command = {
                "arm": True,
                # The function's environment (its imports may read it), but for what only
                # the cold start knows: the log stream, set again then.
                "env": spec.environ(""),
                "cgroups": len(procs),
                "modules": list(spec.preimport),
            }
            pid, pidfd, exited, go = await zygote.arm(command, [netns.fd, *procs])
        except BaseException:
            if netns is not None:
                netns.close()
            if cgroup is not None and not cgroup.remove():
                self._leftovers.append(cgroup)
            raise
        finally:
            for fd in procs:
                os.close(fd)
        spare = ArmedSpare(pid, pidfd, exited, go, cgroup, netns)
        go.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            # The sandbox's code may write anything here; only this shape is believed,
            # and fds it might attach are never accepted (plain recv drops them).
            reply = await asyncio.wait_for(loop.sock_recv(go, 1 << 16), ARM_TIMEOUT_S)
            loaded = json.loads(reply)["armed"] if reply else None
        except (TimeoutError, OSError, ValueError, KeyError, TypeError):
            loaded = None
        except BaseException:  # cancelled (the backend closes): nothing may stay behind
            self._drop(spare)
            raise
        if not isinstance(loaded, list):
            self._drop(spare)
            return None
        spare.loaded = [str(name) for name in loaded]
        return spare

    def _drop(self, spare: ArmedSpare) -> None:
        cgroup = spare.discard()
        if cgroup is not None:
            self._leftovers.append(cgroup)

    def release(self, key: str) -> None:
        """The version is gone from this backend: its armed spares go too."""
        for spare in self._ready.pop(key, []):
            self._drop(spare)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for key in list(self._ready):
            self.release(key)
