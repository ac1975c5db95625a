"""The composition root: every service built from one Settings object, then served.

No module reads configuration or holds global state; `build_platform(settings)` can run
twice in one process (two servers in one test).
"""

from __future__ import annotations

import functools
import gc
import logging
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route
from uvicorn.config import STARTUP_FAILURE

from lambdalite import __version__
from lambdalite.api.admin import AdminApi
from lambdalite.api.aliases import AliasesApi
from lambdalite.api.app import build_app
from lambdalite.api.auth import Authenticator
from lambdalite.api.bill_api import BillApi
from lambdalite.api.buckets_api import BucketsApi
from lambdalite.api.code_urls import CodeUrlSigner
from lambdalite.api.dispatcher import Handler, LambdaApi
from lambdalite.api.event_invoke_configs import EventInvokeConfigsApi
from lambdalite.api.events_api import EventsApi
from lambdalite.api.fast_invoke import InvokeFastPath
from lambdalite.api.function_urls import FunctionUrlsApi
from lambdalite.api.functions import FunctionsApi
from lambdalite.api.invoke import InvokeApi
from lambdalite.api.invoke_protocol import protocol_for
from lambdalite.api.json_protocol import JsonProtocolApi
from lambdalite.api.layers_api import LayerAdminApi, LayersApi
from lambdalite.api.logs_api import LogsApi
from lambdalite.api.mappings import EventSourceMappingsApi
from lambdalite.api.metrics_api import MetricsApi
from lambdalite.api.operations import OperationTable
from lambdalite.api.provisioned import ProvisionedApi
from lambdalite.api.settings_api import SettingsApi
from lambdalite.api.sqs import SqsApi
from lambdalite.api.streams_api import StreamsApi
from lambdalite.api.versions import VersionsApi
from lambdalite.api.webhook import PATH as WEBHOOK_PATH
from lambdalite.api.webhook import S3Webhook
from lambdalite.asyncinvoke import AsyncInvocations
from lambdalite.asyncinvoke.destinations import dead_letter_check
from lambdalite.buckets import Buckets
from lambdalite.control.accounts import AccountService, RootSetup, write_credentials_file
from lambdalite.control.aliases import AliasService
from lambdalite.control.code import CodeStore
from lambdalite.control.concurrency import ConcurrencyService
from lambdalite.control.functions import FunctionService
from lambdalite.control.provisioned import ProvisionedConcurrencyService
from lambdalite.control.tags import TagService
from lambdalite.idle_poll import IdlePoll
from lambdalite.invoke.engine import Engine
from lambdalite.layers.layers import Layers
from lambdalite.logs.retention import RetentionReaper
from lambdalite.logs.service import LogService
from lambdalite.loops import BackgroundLoop
from lambdalite.mappings.model import EventSourceMapping, SourceKind
from lambdalite.mappings.poller import PollerLimits, SqsPoller
from lambdalite.mappings.service import MappingService
from lambdalite.mappings.store import MappingStore
from lambdalite.mappings.supervisor import PollerSupervisor
from lambdalite.metering.ledger import UsageLedger
from lambdalite.metering.prices import PriceBook
from lambdalite.metering.record import Trigger
from lambdalite.metering.usage_store import UsageStore
from lambdalite.metrics.async_queue import AsyncQueueProbe
from lambdalite.metrics.platform_metrics import PlatformMetrics
from lambdalite.metrics.sources import engine_sources
from lambdalite.model import AccessKey
from lambdalite.queues import QueueService
from lambdalite.schedules import Schedules
from lambdalite.settings import Settings
from lambdalite.store.accounts import AccountStore
from lambdalite.store.aliases import AliasStore
from lambdalite.store.database import Database
from lambdalite.store.functions import FunctionStore
from lambdalite.store.logs import LogStore
from lambdalite.store.provisioned import ProvisionedStore
from lambdalite.streams.streams import Streams
from lambdalite.urls import FunctionUrls

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
    # A synchronous Invoke of a plain name skips the ASGI app (fast_invoke.py).
    fast_path: InvokeFastPath
    async_invocations: AsyncInvocations | None = None
    mappings: MappingService | None = None
    pollers: PollerSupervisor | None = None
    function_urls: FunctionUrls | None = None
    schedules: Schedules | None = None
    metrics: PlatformMetrics | None = None
    buckets: Buckets | None = None
    streams: Streams | None = None
    layers: Layers | None = None
    idle_poll: IdlePoll = field(default_factory=IdlePoll)

    def server_config(self, host: str, port: int, **options: Any) -> uvicorn.Config:
        """uvicorn's configuration for this platform: its app, on uvloop, with the
        HTTP protocol that serves the Invoke fast path (invoke_protocol.py)."""
        return uvicorn.Config(
            self.app,
            host=host,
            port=port,
            loop="uvloop",
            http=protocol_for(self.fast_path),
            **options,
        )

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
    # Layers, requirements.txt builds and the states they give versions (0701).
    layers = Layers.build(settings, db, function_store, code)
    functions = FunctionService(
        function_store,
        alias_store,
        code,
        settings.code_limits,
        settings.region,
        dead_letter_check=dead_letter_check(queues, settings.region),
        layers=layers.versions,
    )
    aliases = AliasService(alias_store, functions)
    tags = TagService(function_store, functions)
    concurrency = ConcurrencyService(
        function_store, functions, settings.account_concurrency, settings.code_limits
    )
    code_urls = CodeUrlSigner(
        account_store.fact("code_url_secret", lambda: secrets.token_hex(32)),
        functools.partial(_read_either, code.read, layers.service.content_bytes),
    )
    auth = Authenticator(accounts, settings.max_clock_skew_seconds)

    provisioned = ProvisionedConcurrencyService(
        ProvisionedStore(db), functions, function_store, settings.account_concurrency
    )
    log_store = LogStore(db, settings.log_limits)
    engine = Engine.build(
        settings, functions, function_store, alias_store, code, log_store, provisioned
    )

    def layers_changed(changed: list[tuple[str, str]], account_id: str) -> None:
        engine.invoker.forget(account_id)
        for changed_account, name in changed:
            engine.retire_soon(changed_account, name, None)

    layers.attach(engine.pool.backend, layers_changed)
    # Every invocation's usage record is priced with the server's price book and counted
    # in its metrics as the log writer stores it (docs/decisions/0603, 0604).
    prices = PriceBook.load(settings.price_book)
    metrics = PlatformMetrics(settings.metrics_max_functions)
    engine.logs.usage = UsageLedger(
        prices, [metrics.invocations.observe], tally_observers=[metrics.invocations.apply]
    )
    metrics.watch(engine_sources(engine, AsyncQueueProbe(db, clock)))
    async_invocations = AsyncInvocations.build(
        settings, db, functions, engine.invoker, queues, clock
    )
    # Function URLs serve through the Invoker; schedules enqueue into the async path in
    # the same transaction that advances the rule (docs/decisions/0501, 0502).
    function_urls = FunctionUrls.build(settings, db, functions, engine.invoker, auth)
    schedules = Schedules.build(settings, db, async_invocations.events.insert, clock)
    names = FunctionsApi(functions, code_urls, engine.retire_soon)
    invoke_api = InvokeApi(engine.invoker, names, async_invocations)
    # Buckets and Redis streams (docs/decisions/0503, 0504): bucket notifications are
    # enqueued into the async path in the transaction that records the object's state.
    buckets = Buckets.build(
        settings, db, async_invocations.events.insert, _function_check(functions), clock
    )
    streams = Streams.build(
        settings,
        db,
        accounts,
        queues,
        functions,
        engine.invoker,
        async_invocations.destinations,
        clock,
    )
    mappings = MappingService(MappingStore(db), functions, queues, clock, sources=[streams.rules])
    streams.use_mappings(mappings.all)
    poller_limits = PollerLimits(
        max_concurrency=settings.event_source_max_concurrency,
        max_payload_bytes=settings.max_sync_payload_bytes,
    )

    def sqs_poller(mapping: EventSourceMapping) -> SqsPoller:
        invoke = functools.partial(engine.invoker.invoke, trigger=Trigger.QUEUE)
        return SqsPoller(mapping, queues, invoke, clock, poller_limits)

    pollers = PollerSupervisor(
        mappings,
        {SourceKind.SQS: sqs_poller, SourceKind.REDIS_STREAM: streams.poller},
        settings.event_source_reconcile_seconds,
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
        **FunctionUrlsApi(function_urls.service, function_urls.policy, names).handlers(),
        **LayersApi(layers.service, code_urls).handlers(),
    }
    lambda_api = LambdaApi(
        OperationTable(),
        handlers,
        auth,
        settings.max_request_bytes,
        {"Invoke": settings.max_sync_payload_bytes},
        on_write=engine.invoker.forget,
    )

    idle_poll = IdlePoll()

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
            "bucket_watch": buckets.watcher.mode.value,
            "idle_poll": idle_poll.describe(),
        }

    logs_api = LogsApi(LogService(log_store, settings.region))
    json_api = JsonProtocolApi(
        [SqsApi(queues), logs_api, EventsApi(schedules.rules)],
        auth,
        max_request_bytes=4 * 1024 * 1024,
    )
    retention = BackgroundLoop("queue-retention", queues.run_once, interval_s=60)
    log_retention = BackgroundLoop(
        "log-retention",
        RetentionReaper(log_store).run_once,
        interval_s=settings.log_retention_interval_seconds,
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        await layers.start()
        retention.start()
        log_retention.start()
        await async_invocations.start()
        await schedules.start()
        await buckets.start()
        if settings.event_source_reconcile_seconds > 0:
            pollers.start()
        try:
            yield
        finally:
            await pollers.stop()
            await buckets.stop()
            await schedules.stop()
            await async_invocations.stop()
            await log_retention.stop()
            await retention.stop()
            await layers.stop()
            await engine.stop()

    admin = AdminApi(accounts, auth, health)
    bill_api = BillApi(auth, accounts, UsageStore(db), prices)
    layer_admin = LayerAdminApi(auth, layers.report, functions)
    own_routes = [
        Route("/_lambdalite/layers", layer_admin.layers, methods=["POST"]),
        Route("/_lambdalite/builds", layer_admin.builds, methods=["POST"]),
        Route("/metrics", MetricsApi(metrics, settings.metrics_token).metrics, methods=["GET"]),
        Route("/_lambdalite/bill", bill_api.bill, methods=["GET", "POST"]),
        Route("/_lambdalite/usage", bill_api.usage, methods=["GET"]),
        *BucketsApi(
            buckets.service, buckets.secrets, auth, accounts, settings.bucket_max_object_bytes
        ).routes(),
        Route(
            WEBHOOK_PATH,
            S3Webhook(buckets.service, buckets.secrets).receive,
            methods=["POST", "HEAD"],
        ),
        *StreamsApi(streams.registry, auth).routes(),
    ]
    app = build_app(
        admin,
        code_urls,
        lambda_api,
        json_api,
        lifespan,
        function_urls=function_urls.app,
        routes=own_routes,
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
        InvokeFastPath(auth, invoke_api, settings.max_sync_payload_bytes),
        async_invocations,
        mappings=mappings,
        pollers=pollers,
        function_urls=function_urls,
        schedules=schedules,
        metrics=metrics,
        buckets=buckets,
        streams=streams,
        layers=layers,
        idle_poll=idle_poll,
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
    # A young collection every 20,000 allocations, not 700: an invocation allocates a few
    # hundred objects that die by reference count, and the collections that found nothing
    # cost ~8 % of the loop at c=64 (5,200 -> 5,670/s; decision 0009). Older generations
    # follow at the default ratios, so full collections come 28x less often too.
    gc.set_threshold(20_000, 10, 10)
    poll_us = settings.idle_poll_us
    idle_note = platform.idle_poll.apply(poll_us) if poll_us is not None else None
    _announce(platform, idle_note)
    try:
        config = platform.server_config(
            settings.host, settings.port, log_level="warning", timeout_graceful_shutdown=10
        )
        server = uvicorn.Server(config)
        server.run()
        if not server.started:  # as uvicorn.run: the port was taken, say
            sys.exit(STARTUP_FAILURE)
    finally:
        platform.idle_poll.restore()
        platform.close()


def _function_check(functions: FunctionService) -> Callable[[str, str, str | None], None]:
    """Raises ResourceNotFoundException unless the function (and qualifier) exists."""

    def check(account_id: str, name: str, qualifier: str | None) -> None:
        functions.version(account_id, name, qualifier)

    return check


def _read_either(first: Callable[[str], bytes], second: Callable[[str], bytes], sha: str) -> bytes:
    """A zip from the code store, else from the layer content store (one download URL
    scheme for GetFunction's Code.Location and GetLayerVersion's Content.Location)."""
    try:
        return first(sha)
    except LookupError:
        return second(sha)


def _pinned_root(settings: Settings) -> AccessKey | None:
    if settings.root_access_key_id and settings.root_secret_access_key:
        return AccessKey(settings.root_access_key_id, settings.root_secret_access_key, "")
    return None


def _announce(platform: Platform, idle_note: str | None) -> None:
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
        *([idle_note] if idle_note else []),
        "use it with:",
        f"  export AWS_SHARED_CREDENTIALS_FILE={s.credentials_file} AWS_PROFILE=lambdalite",
        f"  aws lambda list-functions --endpoint-url {s.endpoint}",
    ]
    print("\n".join(lines), flush=True)
