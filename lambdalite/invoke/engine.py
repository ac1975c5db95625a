"""Engine: the execution side of one server — backend, SandboxPool, leases, the Invoker,
and the reaper loop that keeps the pool's keep-alive and scale to zero going.

The pool and its sandboxes belong to the server's event loop (zygotes die with the thread
that spawned them), so control-plane code running on the thread pool asks for a retire
with `retire_soon`, which hops onto that loop.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from lambdalite.control.arns import function_arn
from lambdalite.control.code import CodeStore
from lambdalite.control.functions import FunctionService
from lambdalite.control.provisioned import ProvisionedConcurrencyService
from lambdalite.errors import ApiError
from lambdalite.invoke.invoker import Invoker
from lambdalite.invoke.limiter import ConcurrencyLimiter
from lambdalite.logs.sink import LogSink
from lambdalite.logs.writer import LogWriter
from lambdalite.loops import BackgroundLoop
from lambdalite.sandbox.network import NetworkPolicy
from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.zygote_backend import ZygoteBackend
from lambdalite.settings import Settings
from lambdalite.store.aliases import AliasStore
from lambdalite.store.functions import FunctionStore
from lambdalite.store.logs import LogStore

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        pool: SandboxPool,
        invoker: Invoker,
        limiter: ConcurrencyLimiter,
        logs: LogWriter,
        provisioned: ProvisionedConcurrencyService,
        region: str,
        isolation_warning: str | None,
        reaper_interval_s: float,
        log_flush_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.invoker = invoker
        self.limiter = limiter
        self.logs = logs
        self._provisioned = provisioned
        self.isolation_warning = isolation_warning
        self.network_warning: str | None = None
        self._region = region
        self._reaper = BackgroundLoop("sandbox-reaper", pool.run_once, reaper_interval_s)
        # Logs appear within this interval, in one batch each (Settings.log_flush_seconds).
        self._log_flusher = BackgroundLoop("log-writer", logs.run_once, log_flush_s)
        self._provisioner = BackgroundLoop("provisioner", self.provision_once, reaper_interval_s)
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        functions: FunctionService,
        function_store: FunctionStore,
        aliases: AliasStore,
        code: CodeStore,
        log_store: LogStore,
        provisioned: ProvisionedConcurrencyService,
    ) -> Engine:
        policy = NetworkPolicy(
            enabled=settings.sandbox_network,
            allow=settings.sandbox_network_allow,
            subnet=settings.sandbox_subnet,
            dns=settings.sandbox_dns or None,
        )
        backend, warning = ZygoteBackend.for_this_host(network=policy)
        pool = SandboxPool(backend, keep_alive_s=settings.keep_alive_seconds)
        limiter = ConcurrencyLimiter(settings.account_concurrency)
        sink = (
            LogSink(settings.resolved_database_url, settings.price_book)
            if settings.log_sink == "process"
            else None
        )
        logs = LogWriter(log_store, sink=sink)
        invoker = Invoker(
            functions, function_store, aliases, code, pool, limiter, logs, settings.region
        )
        engine = cls(
            pool,
            invoker,
            limiter,
            logs,
            provisioned,
            settings.region,
            warning,
            settings.reaper_interval_seconds,
            settings.log_flush_seconds,
        )
        engine.network_warning = backend.network_warning
        return engine

    @property
    def isolation(self) -> str:
        return self.isolation_warning or self.pool.backend.isolation

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.pool.backend.warm_up()  # the runtime zygote: cold starts fork from it
        self._reaper.start()
        self._log_flusher.start()
        self._provisioner.start()

    async def stop(self) -> None:
        await self._provisioner.stop()
        await self._reaper.stop()
        await self.pool.close()
        await self._log_flusher.stop()
        await self.logs.run_once()  # what the last invocations printed
        await run_in_threadpool(self.logs.close)
        self._loop = None

    async def provision_once(self) -> None:
        """Reconcile provisioned concurrency: the pool keeps each configured version (an
        alias: its primary version) at the requested number of initialised sandboxes."""
        configs = await run_in_threadpool(self._provisioned.all)
        wanted = []
        for config in configs:
            try:
                spec = await run_in_threadpool(
                    self.invoker.spec_for, config.account_id, config.function_name, config.qualifier
                )
            except ApiError:  # the version or alias went away; its config goes with it later
                continue
            wanted.append((spec, config.requested))
        await self.pool.provision(wanted)

    def available(self, account_id: str, name: str, qualifier: str) -> int:
        """Initialised sandboxes of what a qualifier runs (any thread)."""
        try:
            return self.pool.size(self.invoker.spec_for(account_id, name, qualifier))
        except ApiError:
            return 0

    def provision_soon(self) -> None:
        """Run a reconcile pass now (any thread); a no-op before start()."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.provision_once(), loop)

    def retire_soon(self, account_id: str, name: str, version: str | None) -> None:
        """Code or configuration of a function (version) changed or went: its idle
        sandboxes go now. Callable from any thread; a no-op before start()."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        arn = function_arn(self._region, account_id, name)
        asyncio.run_coroutine_threadsafe(self._retire(arn, version), loop)

    async def _retire(self, arn: str, version: str | None) -> None:
        try:
            await self.pool.retire(arn, version)
        except Exception:  # never fail the API call that asked; the reaper cleans up later
            log.exception("retiring sandboxes of %s failed", arn)
