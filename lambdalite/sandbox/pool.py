"""SandboxPool: the warm and starting sandboxes of every function version, with
keep-alive, eviction and scale to zero.

The Invoker needs two lines:

    async with pool.acquire(spec) as sandbox:
        outcome = await sandbox.invoke(request)

`acquire` hands out an idle sandbox of the same `spec.key` (warm: the most recently used
one, so the others age out) or starts one (cold), and takes it back when the block ends —
unless it was destroyed (timeout, crash, OOM) or the block raised, in which case it is
destroyed: a sandbox in an unknown state is never reused. One invocation per sandbox at
a time; concurrency limits are the Invoker's leases, not the pool's.

Idle sandboxes expire after `keep_alive_s` (AWS: minutes; default 10 min) when the reaper
calls `run_once(now)`; a version left with no sandbox for as long also loses its zygote,
so an idle function costs nothing (scale to zero). Time comes from the injected `clock`,
so tests drive expiry with `run_once(now=...)` and never sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from lambdalite.sandbox.backend import Backend
from lambdalite.sandbox.sandbox import Sandbox, SandboxState
from lambdalite.sandbox.spec import SandboxSpec

DEFAULT_KEEP_ALIVE_S = 600.0


@dataclass
class _Version:
    """The sandboxes of one `SandboxSpec.key`."""

    spec: SandboxSpec
    idle: list[Sandbox] = field(default_factory=list)  # most recently used last
    busy: set[Sandbox] = field(default_factory=set)
    starting: int = 0
    last_used: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.idle and not self.busy and not self.starting


class SandboxPool:
    def __init__(
        self,
        backend: Backend,
        keep_alive_s: float = DEFAULT_KEEP_ALIVE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.keep_alive_s = keep_alive_s
        self.clock = clock
        self._versions: dict[str, _Version] = {}
        self._minimums: dict[str, int] = {}  # spec.key -> sandboxes kept initialised
        self._closed = False
        self.cold_starts = 0
        self.warm_starts = 0

    def _version(self, spec: SandboxSpec) -> _Version:
        version = self._versions.get(spec.key)
        if version is None:
            version = self._versions[spec.key] = _Version(spec, last_used=self.clock())
        return version

    @contextlib.asynccontextmanager
    async def acquire(self, spec: SandboxSpec) -> AsyncIterator[Sandbox]:
        """A sandbox of `spec` for one invocation. Raises BackendError if none can start."""
        sandbox = await self.take(spec)
        try:
            yield sandbox
        except BaseException:
            await self.discard(sandbox)
            raise
        await self.give_back(sandbox)

    async def take(self, spec: SandboxSpec) -> Sandbox:
        """`acquire` without the context manager (the invoke hot path): the caller must
        `give_back` the sandbox, or `discard` it if the invocation raised."""
        if self._closed:
            raise RuntimeError("the sandbox pool is closed")
        version = self._versions.get(spec.key) or self._version(spec)
        sandbox = self._take_idle(version)
        if sandbox is None:
            version.starting += 1
            try:
                sandbox = await Sandbox.start(spec, self.backend, clock=self.clock)
            finally:
                version.starting -= 1
            self.cold_starts += 1
        else:
            self.warm_starts += 1
        version.busy.add(sandbox)
        return sandbox

    async def give_back(self, sandbox: Sandbox) -> None:
        """The invocation is over: an idle sandbox waits for the next, any other goes."""
        key = sandbox.spec.key
        version = self._versions.get(key)
        if version is None or sandbox not in version.busy:
            await sandbox.destroy()  # its version was retired meanwhile
            return
        version.busy.discard(sandbox)
        version.last_used = self.clock()
        if sandbox.state is SandboxState.IDLE and not self._closed:
            version.idle.append(sandbox)
        else:
            await sandbox.destroy()

    async def discard(self, sandbox: Sandbox) -> None:
        version = self._versions.get(sandbox.spec.key)
        if version is not None:
            version.busy.discard(sandbox)
        await sandbox.destroy()

    def _take_idle(self, version: _Version) -> Sandbox | None:
        while version.idle:
            sandbox = version.idle.pop()
            if sandbox.state is SandboxState.IDLE:
                return sandbox
            # It died while idle; its own exit handler is already destroying it.
        return None

    async def prewarm(self, spec: SandboxSpec, count: int = 1) -> None:
        """Start sandboxes ahead of traffic (provisioned concurrency) and leave them idle."""
        version = self._version(spec)
        for _ in range(count):
            sandbox = await Sandbox.start(spec, self.backend, clock=self.clock)
            sandbox.provisioned = True
            if sandbox.state is SandboxState.IDLE:
                version.idle.insert(0, sandbox)
            else:
                await sandbox.destroy()

    async def run_once(self, now: float | None = None) -> int:
        """One reaper pass: destroy idle sandboxes past keep-alive, release the zygotes
        of versions idle for as long. Returns how many sandboxes it destroyed."""
        now = self.clock() if now is None else now
        destroyed = 0
        for key, version in list(self._versions.items()):
            expired = [s for s in version.idle if now - s.last_used >= self.keep_alive_s]
            # Provisioned concurrency: the least recently used expire, the rest are kept.
            keep = self._minimums.get(key, 0) - len(version.busy)
            if keep > 0:
                expired = sorted(expired, key=lambda s: s.last_used)[: max(0, len(expired) - keep)]
            dead = [s for s in version.idle if s.state is not SandboxState.IDLE]
            for sandbox in {*expired, *dead}:
                version.idle.remove(sandbox)
                await sandbox.destroy()
                destroyed += 1 if sandbox in expired else 0
            if (
                version.empty
                and key not in self._minimums
                and now - version.last_used >= self.keep_alive_s
            ):
                del self._versions[key]
                await self.backend.release(version.spec)
        return destroyed

    async def retire(self, function_arn: str, version: str | None = None) -> None:
        """Code or configuration changed: idle sandboxes of that function (version) go now,
        busy ones when their invocation ends."""
        for key, entry in list(self._versions.items()):
            spec = entry.spec
            if spec.function_arn != function_arn or (
                version is not None and spec.version != version
            ):
                continue
            del self._versions[key]
            for sandbox in entry.idle:
                await sandbox.destroy()
            entry.idle.clear()
            await self.backend.release(spec)

    async def provision(self, wanted: list[tuple[SandboxSpec, int]]) -> None:
        """Provisioned concurrency: keep at least `count` sandboxes of each spec
        initialised (idle ones are exempt from keep-alive), starting what is missing.
        Replaces the previous wishes wholesale; specs no longer wanted age out normally."""
        self._minimums = {spec.key: count for spec, count in wanted}
        for spec, count in wanted:
            missing = count - self.size(spec)
            if missing > 0:
                await self.prewarm(spec, missing)

    def size(self, spec: SandboxSpec) -> int:
        """Initialised sandboxes of `spec` (idle or busy), not counting ones starting."""
        version = self._versions.get(spec.key)
        if version is None:
            return 0
        idle = sum(1 for s in version.idle if s.state is SandboxState.IDLE)
        return idle + len(version.busy)

    def counts(self) -> dict[SandboxState, int]:
        """Sandboxes per state, for metrics and GET /health."""
        counts = dict.fromkeys(SandboxState, 0)
        for version in self._versions.values():
            counts[SandboxState.STARTING] += version.starting
            counts[SandboxState.BUSY] += len(version.busy)
            for sandbox in version.idle:
                counts[sandbox.state] += 1
        return counts

    async def close(self) -> None:
        """Destroy every sandbox, then the backend. Busy sandboxes are destroyed too."""
        self._closed = True
        sandboxes = [s for v in self._versions.values() for s in (*v.idle, *v.busy)]
        self._versions.clear()
        await asyncio.gather(*(s.destroy() for s in sandboxes), return_exceptions=True)
        await self.backend.close()
