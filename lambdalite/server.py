"""The composition root: every service built from one Settings object, then served.

No module reads configuration or holds global state; `build_platform(settings)` can run
twice in one process (two servers in one test).
"""

from __future__ import annotations

import gc
import logging
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from lambdalite import __version__
from lambdalite.api.admin import AdminApi
from lambdalite.api.aliases import AliasesApi
from lambdalite.api.app import build_app
from lambdalite.api.auth import Authenticator
from lambdalite.api.code_urls import CodeUrlSigner
from lambdalite.api.dispatcher import Handler, LambdaApi
from lambdalite.api.event_invoke_configs import EventInvokeConfigsApi
from lambdalite.api.fast_invoke import InvokeFastPath
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.invoke import InvokeApi
from lambdalite.api.json_protocol import JsonProtocolApi
from lambdalite.api.logs_api import LogsApi
from lambdalite.api.mappings import EventSourceMappingsApi
from lambdalite.api.operations import OperationTable
from lambdalite.api.provisioned import ProvisionedApi
from lambdalite.api.settings_api import SettingsApi
from lambdalite.api.sqs import SqsApi
from lambdalite.api.versions import VersionsApi
from lambdalite.asyncinvoke import AsyncInvocations
from lambdalite.asyncinvoke.destinations import dead_letter_check
from lambdalite.control.accounts import AccountService, RootSetup, write_credentials_file
from lambdalite.control.aliases import AliasService
from lambdalite.control.code import CodeStore
from lambdalite.control.concurrency import ConcurrencyService
from lambdalite.control.functions import FunctionService
from lambdalite.control.provisioned import ProvisionedConcurrencyService
from lambdalite.control.tags import TagService
from lambdalite.invoke.engine import Engine
from lambdalite.logs.retention import RetentionReaper
from lambdalite.logs.service import LogService
from lambdalite.loops import BackgroundLoop
from lambdalite.mappings.model import EventSourceMapping, SourceKind
from lambdalite.mappings.poller import PollerLimits, SqsPoller
from lambdalite.mappings.service import MappingService
from lambdalite.mappings.store import MappingStore
from lambdalite.mappings.supervisor import PollerSupervisor
from lambdalite.model import AccessKey
from lambdalite.queues import QueueService
from lambdalite.settings import Settings
from lambdalite.store.accounts import AccountStore
from lambdalite.store.aliases import AliasStore
from lambdalite.store.database import Database
from lambdalite.store.functions import FunctionStore
from lambdalite.store.logs import LogStore
from lambdalite.store.provisioned import ProvisionedStore

log = logging.getLogger("lambdalite")


@dataclass
class Platform:
    settings: Settings
    db: Database
    accounts: AccountService
    functions: FunctionService
    root: RootSetup
    queues: QueueService
    engine: Engine
    app: Starlette
    async_invocations: AsyncInvocations | None = None
    mappings: MappingService | None = None
    pollers: PollerSupervisor | None = None

    def close(self) -> None:
        self.db.dispose()


def build_platform(settings: Settings, clock: Callable[[], float] = time.time) -> Platform:
    """`clock` is what queues, event source pollers and async invocations read (tests
    move it by hand)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    account_store = AccountStore(db)
    accounts = AccountService(account_store)
    root = accounts.ensure_root(_pinned_root(settings))
    if root.created or not settings.credentials_file.exists():
        write_credentials_file(settings.credentials_file, root.key, settings.region)

    function_store = FunctionStore(db)
    alias_store = AliasStore(db)
    code = CodeStore(settings.code_dir)
    queues = QueueService(db, settings.region, clock=clock)
    functions = FunctionService(
        function_store,
        alias_store,
        code,
        settings.code_limits,
        settings.region,
        dead_letter_check=dead_letter_check(queues, settings.region),
    )
    aliases = AliasService(alias_store, functions)
    tags = TagService(function_store, functions)
    concurrency = ConcurrencyService(
        function_store, functions, settings.account_concurrency, settings.code_limits
    )
    code_urls = CodeUrlSigner(
        account_store.fact("code_url_secret", lambda: secrets.token_hex(32)), code.read
    )
    auth = Authenticator(accounts, settings.max_clock_skew_seconds)

    provisioned = ProvisionedConcurrencyService(
        ProvisionedStore(db), functions, function_store, settings.account_concurrency
    )
    log_store = LogStore(db, settings.log_limits)
    engine = Engine.build(
        settings, functions, function_store, alias_store, code, log_store, provisioned
    )
    async_invocations = AsyncInvocations.build(
        settings, db, functions, engine.invoker, queues, clock
    )
    names = FunctionsApi(functions, code_urls, engine.retire_soon)
    invoke_api = InvokeApi(engine.invoker, names, async_invocations)
    mappings = MappingService(MappingStore(db), functions, queues, clock)
    poller_limits = PollerLimits(
        max_concurrency=settings.event_source_max_concurrency,
        max_payload_bytes=settings.max_sync_payload_bytes,
    )

    def sqs_poller(mapping: EventSourceMapping) -> SqsPoller:
        return SqsPoller(mapping, queues, engine.invoker.invoke, clock, poller_limits)

    pollers = PollerSupervisor(
        mappings, {SourceKind.SQS: sqs_poller}, settings.event_source_reconcile_seconds
    )
    handlers: dict[str, Handler] = {
        **names.handlers(),
        **invoke_api.handlers(),
        **ProvisionedApi(
            provisioned, names, engine.available, engine.provision_soon, settings.region
        ).handlers(),
        **VersionsApi(functions, names).handlers(),
        **AliasesApi(aliases, names, settings.region).handlers(),
        **SettingsApi(tags, concurrency, names, settings.region).handlers(),
        **EventInvokeConfigsApi(async_invocations.configs, names, settings.region).handlers(),
        **EventSourceMappingsApi(mappings, names).handlers(),
    }
    lambda_api = LambdaApi(
        OperationTable(),
        handlers,
        auth,
        settings.max_request_bytes,
        {"Invoke": settings.max_sync_payload_bytes},
        on_write=engine.invoker.forget,
    )

    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "store": db.kind,
            "region": settings.region,
            "isolation": engine.isolation,
            "isolated": engine.isolation_warning is None,
            "network": engine.network_warning
            or "outbound allowed; host and private ranges blocked",
            "sandboxes": {str(k): v for k, v in engine.pool.counts().items()},
            "event_source_pollers": len(pollers.pollers),
        }

    logs_api = LogsApi(LogService(log_store, settings.region))
    json_api = JsonProtocolApi([SqsApi(queues), logs_api], auth, max_request_bytes=4 * 1024 * 1024)
    retention = BackgroundLoop("queue-retention", queues.run_once, interval_s=60)
    log_retention = BackgroundLoop(
        "log-retention",
        RetentionReaper(log_store).run_once,
        interval_s=settings.log_retention_interval_seconds,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        retention.start()
        log_retention.start()
        await async_invocations.start()
        if settings.event_source_reconcile_seconds > 0:
            pollers.start()
        try:
            yield
        finally:
            await pollers.stop()
            await async_invocations.stop()
            await log_retention.stop()
            await retention.stop()
            await engine.stop()

    admin = AdminApi(accounts, auth, health)
    app = build_app(admin, code_urls, lambda_api, json_api, lifespan)
    # A synchronous Invoke of a plain name skips the general API (fast_invoke.py).
    app.add_middleware(
        InvokeFastPath,
        auth=auth,
        invoke=invoke_api,
        max_payload_bytes=settings.max_sync_payload_bytes,
    )
    return Platform(
        settings,
        db,
        accounts,
        functions,
        root,
        queues,
        engine,
        app,
        async_invocations,
        mappings=mappings,
        pollers=pollers,
    )


def serve(settings: Settings) -> None:
    """Run the server until SIGINT/SIGTERM (uvicorn finishes in-flight requests first)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then restores the handlers it found
    # and raises the signal again. With these in place that second delivery is a no-op and
    # a graceful stop exits 0 (as a service manager expects), not "killed by SIGTERM".
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, lambda *_: None)
    platform = build_platform(settings)
    # Everything built so far lives as long as the server: keep the cyclic collector from
    # walking it on every full collection (pauses grow with the heap; see bench/).
    gc.freeze()
    _announce(platform)
    try:
        uvicorn.run(
            platform.app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            timeout_graceful_shutdown=10,
        )
    finally:
        platform.close()


def _pinned_root(settings: Settings) -> AccessKey | None:
    if settings.root_access_key_id and settings.root_secret_access_key:
        return AccessKey(settings.root_access_key_id, settings.root_secret_access_key, "")
    return None


def _announce(platform: Platform) -> None:
    s = platform.settings
    warning = platform.engine.isolation_warning
    if warning:
        log.warning("WARNING: %s. Run as root on Linux for isolated sandboxes.", warning)
    if platform.engine.network_warning:
        log.warning("WARNING: %s", platform.engine.network_warning)
    lines = [
        f"lambdalite {__version__} listening on {s.endpoint} (store: {platform.db.kind})",
        f"root account {platform.root.account.account_id}, key {platform.root.key.access_key_id}",
        f"credentials: {s.credentials_file} (profile lambdalite)",
        f"sandboxes: {platform.engine.isolation}",
        "use it with:",
        f"  export AWS_SHARED_CREDENTIALS_FILE={s.credentials_file} AWS_PROFILE=lambdalite",
        f"  aws lambda list-functions --endpoint-url {s.endpoint}",
    ]
    print("\n".join(lines), flush=True)
