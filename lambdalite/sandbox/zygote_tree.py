"""The zygote tree of one backend: runtime zygotes, and the version zygotes forked from
them (SOCK's, USENIX ATC'18; docs/decisions/0101).

One *runtime zygote* per root its sandboxes see — every runtime shares the host's
interpreter, so the roots differ only in /etc/resolv.conf — under bubblewrap where
installed, started by `warm_up` (the server calls it at start) or on first use, and
restarted in the background when it dies. One *version zygote* per function version
(`SandboxSpec.key`), forked from it on first use with the version's code, and kept until
its pool releases it. A version zygote does not depend on its runtime zygote once
forked: it outlives it, and keeps serving.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lambdalite.runtime import _syscalls as sc
from lambdalite.runtime.zygote import VersionConfig
from lambdalite.sandbox.backend import BackendError
from lambdalite.sandbox.root_layout import common_root
from lambdalite.sandbox.runtime_zygote import RuntimeZygote, package_dir, python_prefix
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.zygote import Zygote

log = logging.getLogger(__name__)
T = TypeVar("T")

# A runtime zygote that dies sooner than this after its last restart waits for the next
# cold start that needs it, rather than being restarted at once again and again.
RESTART_BACKOFF_S = 1.0


async def _single_flight(
    pending: dict[str, asyncio.Future[T]], key: str, start: Callable[[], Awaitable[T]]
) -> T:
    """One `start()` per key at a time, however many callers ask at once."""
    future = pending.get(key)
    if future is None:
        future = asyncio.ensure_future(start())
        pending[key] = future

        def done(_: asyncio.Future[T]) -> None:
            pending.pop(key, None)
            if not future.cancelled():
                future.exception()  # retrieved: its callers may all have gone

        future.add_done_callback(done)
    return await asyncio.shield(future)


class ZygoteTree:
    """The runtime zygotes of one backend, and the version zygotes forked from them."""

    def __init__(
        self,
        name: str,
        isolated: bool,
        uid: int,
        gid: int,
        bwrap: str | None,
        resolv_conf: Callable[[], Awaitable[str]],
    ) -> None:
        self.name = name  # in the command line of every process of the tree
        self.isolated = isolated
        self.uid = uid
        self.gid = gid
        self.bwrap = bwrap  # None: the runtime zygotes build the root themselves
        self.bwrap_failure: str | None = None  # why bubblewrap was given up, if it was
        self._resolv_conf = resolv_conf
        self.runtimes: dict[str, RuntimeZygote] = {}  # by root: see `_root_key`
        self._runtime_starts: dict[str, asyncio.Future[RuntimeZygote]] = {}
        self._restarted: dict[str, float] = {}
        self.versions: dict[str, Zygote] = {}  # by SandboxSpec.key
        self._starting: dict[str, asyncio.Future[Zygote]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    async def _root_key(self, spec_network: str) -> str:
        """Runtime zygotes are shared by every version whose sandboxes see the same root:
        all of them share the interpreter, and only /etc/resolv.conf differs (present
        with network, absent with "none")."""
        online = self.isolated and spec_network == "default"
        return await self._resolv_conf() if online else ""

    async def warm_up(self) -> None:
        """Start the runtime zygote of the host's runtime (sandboxes with network) if it
        is not running; never raises (the next cold start tries again and says why)."""
        try:
            await self._runtime(await self._root_key("default"))
        except Exception as e:
            log.warning("cannot start the runtime zygote: %s", e)

    def warm_up_soon(self) -> None:
        """`warm_up`, in the background."""
        self._in_background(self.warm_up())

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _runtime(self, root: str) -> RuntimeZygote:
        runtime = self.runtimes.get(root)
        if runtime is not None and runtime.alive:
            return runtime
        if runtime is not None:
            runtime.close()
            del self.runtimes[root]
        return await _single_flight(self._runtime_starts, root, lambda: self._start_runtime(root))

    async def _start_runtime(self, root: str) -> RuntimeZygote:
        if self._closed:
            raise BackendError("the backend is closed")
        steps = common_root(python_prefix(), package_dir(), self.uid, self.gid, root)

        def start(bwrap: str | None) -> Awaitable[RuntimeZygote]:
            gone = functools.partial(self._runtime_gone, root)
            return RuntimeZygote.start(self.name, steps, bwrap, self.isolated, gone)

        try:
            runtime = await start(self.bwrap)
        except BackendError as e:
            if not self.bwrap:
                raise
            # Same isolation without it: the runtime zygote builds the root itself.
            log.warning("bubblewrap cannot start a runtime zygote, so it is not used: %s", e)
            self.bwrap, self.bwrap_failure = None, str(e).splitlines()[0]
            runtime = await start(None)
        self.runtimes[root] = runtime
        return runtime

    def _runtime_gone(self, root: str, runtime: RuntimeZygote) -> None:
        """A runtime zygote died while serving. The version zygotes it forked live on;
        start a new one now, so the next new version does not wait for it."""
        if self._closed or self.runtimes.get(root) is not runtime:
            return
        now = time.monotonic()
        if now - self._restarted.get(root, -RESTART_BACKOFF_S) < RESTART_BACKOFF_S:
            log.warning("the runtime zygote exited again; restarting it on demand")
            return
        self._restarted[root] = now
        log.warning("the runtime zygote exited; restarting it")
        self._in_background(self._restart(root))

    async def _restart(self, root: str) -> None:
        try:
            await self._runtime(root)
        except Exception as e:
            log.warning("cannot restart the runtime zygote: %s", e)

    async def version(self, spec: SandboxSpec) -> Zygote:
        """The zygote of `spec`'s version, forked on first use. Raises BackendError."""
        key = spec.key
        zygote = self.versions.get(key)
        if zygote is not None and zygote.alive:
            return zygote
        if zygote is not None:
            zygote.close()
            del self.versions[key]
        try:
            # One start per version even when many cold starts arrive together.
            return await _single_flight(self._starting, key, lambda: self._start_zygote(spec))
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot start a zygote for {key}: {e}") from e

    async def _start_zygote(self, spec: SandboxSpec) -> Zygote:
        root = await self._root_key(spec.network)
        code_dir = str(spec.code_dir.resolve())
        opt_dir = str(spec.opt_dir.resolve()) if spec.opt_dir else ""
        config = VersionConfig(
            spec.handler,
            spec.python,
            spec.ephemeral_storage_mb,
            self.uid,
            self.gid,
            self.isolated,
            "" if self.isolated else code_dir,
            opt=bool(opt_dir),
            opt_dir="" if self.isolated else opt_dir,
        )
        for attempt in (1, 2):
            runtime = await self._runtime(root)
            # The code travels as a detached mount made here, in the host's mount
            # namespace: a bind from a path or an O_PATH fd in another namespace fails
            # with EINVAL, and the zygotes must not see the data dir to find it.
            code = sc.open_tree_clone(code_dir) if self.isolated else -1
            # Its /opt (layers: docs/decisions/0701) travels the same way.
            opt = sc.open_tree_clone(opt_dir) if self.isolated and opt_dir else -1
            try:
                zygote = await runtime.fork_version(config, code, opt)
                break
            except BackendError:
                # A runtime zygote that died under us is restarted once; a version that
                # fails on its own (its code, its handler) is not retried.
                if attempt == 2 or runtime.alive:
                    raise
            finally:
                for fd in (code, opt):
                    if fd >= 0:
                        os.close(fd)
        if self._closed:
            zygote.close()
            raise BackendError("the backend is closed")
        self.versions[spec.key] = zygote
        return zygote

    def release(self, key: str) -> None:
        """Stop a version's zygote (its sandboxes die with it)."""
        zygote = self.versions.pop(key, None)
        if zygote is not None:
            zygote.close()

    async def close(self) -> None:
        """Stop every zygote. Starts in flight finish (or fail) first, so that nothing
        they start escapes."""
        self._closed = True
        pending: list[asyncio.Future[Any]] = [
            *self._background,
            *self._starting.values(),
            *self._runtime_starts.values(),
        ]
        await asyncio.gather(*pending, return_exceptions=True)
        for zygote in self.versions.values():
            zygote.close()
        self.versions.clear()
        for runtime in self.runtimes.values():
            runtime.close()
        self.runtimes.clear()
